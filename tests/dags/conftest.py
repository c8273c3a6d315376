"""Airflow for the DAG tests: a throwaway AIRFLOW_HOME with a migrated SQLite metadata DB,
and a deployment (people authorized against the emulator, a catalog, a database) for nightly runs.

Airflow reads its configuration when first imported, so `airflow_db` sets the
environment before any test imports Airflow, and takes it back at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pytest

from taskcode import db
from taskcode.authorize import authorize
from taskcode.config import Settings, load_settings
from tests.conftest import PROJECT_ROOT
from tests.integration.conftest import SMALL_MODEL

if TYPE_CHECKING:
    from emulator import Emulator, Library


def _airflow_environment(home: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    }


@pytest.fixture(scope="session")
def airflow_db():
    """AIRFLOW_HOME for this session, its metadata DB migrated once (a real Airflow CLI run)."""
    home = Path(tempfile.mkdtemp(prefix="taskcode-test-airflow-"))
    with pytest.MonkeyPatch.context() as patch:
        for name, value in _airflow_environment(home).items():
            patch.setenv(name, value)
        patch.syspath_prepend(str(PROJECT_ROOT / "plugins"))  # where Airflow finds taste_airflow
        airflow = Path(sys.executable).with_name("airflow")
        result = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True, env=os.environ)
        assert result.returncode == 0, result.stderr[-2000:]
        yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


CONFIG = "spotify:\n  backoff_initial_seconds: 0.05\n" + SMALL_MODEL


class Deployment(NamedTuple):
    settings: Settings
    emulator: Emulator
    library: Library


@pytest.fixture
def deployment(airflow_db, emulator, sample_library, database_url, write_config, monkeypatch, tmp_path):
    """Everything a nightly run needs: people authorized against the emulator, a catalog, a database."""
    catalog = tmp_path / "catalog.csv"
    sample_library.write_catalog(catalog)
    config = write_config(CONFIG + f"paths:\n  catalog_csv: {catalog}\n")
    for name, value in {**emulator.env(), "DATABASE_URL": database_url, "TASKCODE_CONFIG": str(config)}.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    with db.connection(settings) as conn:
        db.migrate(conn)
        for person in sample_library.people:
            authorize(settings, conn, person.name, refresh_token=emulator.refresh_token(person.name))
    emulator.clear_requests()
    return Deployment(settings, emulator, sample_library)
