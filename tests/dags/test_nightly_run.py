"""The nightly DAG end to end through `dag.test()`: real Airflow, PostgreSQL and the emulator."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import pytest

from taskcode import db
from taskcode.authorize import authorize
from taskcode.config import Settings, load_settings
from taskcode.status import status

if TYPE_CHECKING:
    from emulator import Emulator, Library

pytestmark = pytest.mark.slow

CONFIG = """
spotify:
  backoff_initial_seconds: 0.05
model:
  hidden_layers: [16, 8]
  epochs: 30
  patience: 3
map:
  n_iter: 250
"""


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


def run(conf=None):
    from scripts.airflow_dev import test_run

    state, tasks = test_run("taste_nightly", conf)
    return state, {name: (task_state, value) for name, task_state, value in tasks}


def current_status(settings):
    with db.connection(settings) as conn:
        return status(conn)


def test_first_night_then_a_quiet_night_then_a_forced_retrain(deployment):
    settings, emulator = deployment.settings, deployment.emulator

    state, tasks = run()
    assert state == "success", tasks
    report = current_status(settings)
    assert {name: info["likes"] for name, info in report["users"].items()} == {"alice": 120, "bob": 120}
    assert report["champion"] is not None and report["map"]["version"] == report["champion"]["version"]
    assert report["map"]["points"] == report["tracks_with_features"] > 0
    assert tasks["train"][0] == "success" and tasks["evaluate_and_promote"][1]["promoted"]
    assert tasks["discover"][1]["people"] == {"alice": 25, "bob": 25}
    assert {tasks["sync[alice]"][1]["new_likes"], tasks["sync[bob]"][1]["new_likes"]} == {120}

    emulator.clear_requests()
    state, tasks = run()  # nothing new tonight
    assert state == "success", tasks
    assert tasks["train"] == ("success", None)
    assert tasks["evaluate_and_promote"][0] == "skipped"
    assert tasks["embed"][0] == "success" and tasks["embed"][1]["placed"] == 0
    assert len(emulator.requests("tracks")) == 2 and emulator.requests("audio_features") == []
    assert current_status(settings)["champion"] == report["champion"]

    state, tasks = run({"force_retrain": True, "people": ["alice"]})
    assert state == "success", tasks
    assert [name for name in tasks if name.startswith("sync[")] == ["sync[alice]"]
    assert isinstance(tasks["train"][1], int) and tasks["train"][1] > report["champion"]["version"]
    assert tasks["evaluate_and_promote"][0] == "success"


def test_new_likes_are_synced_and_placed_into_the_map(deployment):
    settings, emulator = deployment.settings, deployment.emulator
    assert run()[0] == "success"
    before = current_status(settings)
    new = [emulator.add_like("alice") for _ in range(3)]
    state, tasks = run()
    assert state == "success", tasks
    after = current_status(settings)
    assert after["users"]["alice"]["likes"] == before["users"]["alice"]["likes"] + 3
    assert tasks["sync[alice]"][1]["new_likes"] == 3 and tasks["sync[bob]"][1]["new_likes"] == 0
    assert tasks["train"][0] == "success"
    known = sum(1 for t in new if emulator.library.tracks[t]["known_by"])
    assert after["map"]["points"] == before["map"]["points"] + known


def test_a_revoked_person_fails_alone_and_the_night_goes_on(deployment):
    settings, emulator = deployment.settings, deployment.emulator
    emulator.revoke("bob")
    emulator.expire_access_tokens()
    state, tasks = run()
    assert tasks["sync[bob]"][0] == "failed"
    assert tasks["sync[alice]"][0] == "success"
    assert tasks["features"][0] == "success"
    assert current_status(settings)["users"]["alice"]["likes"] == 120
