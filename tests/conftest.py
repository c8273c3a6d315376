"""Shared fixtures: a real, throwaway PostgreSQL cluster and per-test databases,
and the Spotify emulator serving a small sample library.

The cluster is started once per test session with the project's own
embedded-cluster code (initdb/pg_ctl), so the tests exercise it too. Each
test that asks for `database_url` gets a fresh, empty database in it.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import NamedTuple

import psycopg2
import pytest

from taskcode.config import environment_variables, load_settings
from taskcode.localpg import LocalCluster

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_counter = itertools.count()

# The developer's own settings: kept out of the tests (and of every process they start).
DEVELOPER_ENVIRONMENT = environment_variables()


def pytest_configure(config):
    """Before any test module is collected: the same clean environment for every test."""
    for name in DEVELOPER_ENVIRONMENT:
        os.environ.pop(name, None)


class PgCluster(NamedTuple):
    cluster: LocalCluster
    url: str  # the admin URL


@pytest.fixture(scope="session")
def pg_cluster() -> PgCluster:
    """A PostgreSQL server for this test session, and its admin URL."""
    # Not under pytest's tmp dir: that is private to root, and as root the
    # cluster must belong to the unprivileged 'postgres' user.
    folder = Path(tempfile.mkdtemp(prefix="taskcode-test-pg-"))
    folder.chmod(0o755)
    cluster = LocalCluster(folder, durable=False)
    url = cluster.ensure_running()
    yield PgCluster(cluster, url)
    cluster.stop()
    shutil.rmtree(folder, ignore_errors=True)


def _admin(url: str, statement: str) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


@pytest.fixture
def database_url(pg_cluster):
    """A fresh empty database in the session's cluster."""
    name = f"test_{os.getpid()}_{next(_counter)}"
    _admin(pg_cluster.url, f'CREATE DATABASE "{name}"')
    base = pg_cluster.url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    _admin(pg_cluster.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def template_database(pg_cluster):
    """Build a database once per session, then hand each test its own copy.

    `template_database(name, build)` calls `build(url)` the first time only
    and returns a fresh copy (CREATE DATABASE … TEMPLATE, a file copy) per
    call, so that slow set-ups (training a model) are shared, not the state.
    """
    built: dict[str, str] = {}
    copies: list[str] = []
    base = pg_cluster.url.rsplit("/", 1)[0]

    def copy(name: str, build) -> str:
        if name not in built:
            _admin(pg_cluster.url, f'CREATE DATABASE "{name}"')
            build(f"{base}/{name}")
            built[name] = name
        target = f"{name}_{next(_counter)}"
        _admin(pg_cluster.url, f'CREATE DATABASE "{target}" TEMPLATE "{name}"')
        copies.append(target)
        return f"{base}/{target}"

    yield copy
    for name in copies + list(built):
        _admin(pg_cluster.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def write_config(tmp_path):
    """Write a config file into the test's folder; returns its path."""

    def write(text: str = "") -> Path:
        path = tmp_path / "config" / "config.yml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def settings(database_url, write_config, monkeypatch):
    """Settings pointing at a fresh database and a private data folder."""
    path = write_config("")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TASKCODE_CONFIG", str(path))
    return load_settings()


@pytest.fixture
def conn(settings):
    from taskcode import db

    connection = db.open_migrated(settings)
    yield connection
    connection.close()


@pytest.fixture
def sample_library():
    """A small deterministic library (2 people x 120 likes); each test may change its own copy."""
    from emulator import generate

    return generate(people=2, tracks=120, seed=7)


@pytest.fixture
def emulator(sample_library, request):
    """The Spotify emulator serving `sample_library` on a free loopback port, stopped after the test.

    A development-mode app, as every new one is; a test of Spotify's /audio-features says so with
    `@EXTENDED_QUOTA` (the emulator's options through indirect parametrization).
    """
    from emulator import Emulator

    with Emulator(sample_library, **getattr(request, "param", {})) as emu:
        yield emu


# An emulator started as an extended-quota app: the only kind Spotify still serves /audio-features to.
EXTENDED_QUOTA = pytest.mark.parametrize("emulator", [{"extended_quota": True}], indirect=True, ids=["extended_quota"])


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 300):
    """Run `python -m taskcode ARGS` as a real process; returns CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = str(PROJECT_ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "taskcode", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or PROJECT_ROOT,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
