"""A stock `airflow standalone` with the project installed and nothing else created runs the nightly DAG.

No pool, no connection, no variable: only the DAG and plugin folders of the
checkout, Airflow's metadata in the tests' PostgreSQL, and the taskcode
settings in the environment, as an operator adding the DAG to an Airflow has.
"""

from __future__ import annotations

import os
import socket
import time
import urllib.error

import psutil
import pytest

from scripts.airflow_dev import Standalone, request, standalone_environment
from taskcode import db
from taskcode.status import status
from tests.conftest import PROJECT_ROOT, _admin

pytestmark = pytest.mark.slow

RUN_SECONDS = 600
POLL_SECONDS = 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def metadata_url(pg_cluster):
    """A fresh database for Airflow's metadata."""
    name = f"airflow_{os.getpid()}_{free_port()}"
    _admin(pg_cluster.url, f'CREATE DATABASE "{name}"')
    yield "postgresql+psycopg2://" + pg_cluster.url.split("://", 1)[1].rsplit("/", 1)[0] + f"/{name}"
    _admin(pg_cluster.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_for(what: str, check, timeout: float):
    """`check()` until it returns something, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (value := check()) is None:
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(POLL_SECONDS)
    return value


def test_a_stock_standalone_runs_a_triggered_nightly_to_success(deployment, metadata_url, tmp_path):
    home = tmp_path / "airflow"
    home.mkdir()
    port = free_port()
    env = {
        **os.environ,
        **standalone_environment(port),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        # the log servers' fixed ports may be taken by another Airflow on this machine
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
    }
    with Standalone(env, tmp_path / "standalone.log") as airflow:
        started = [airflow.process.pid]
        try:
            airflow.wait_ready()
            started += [child.pid for child in psutil.Process(airflow.process.pid).children(recursive=True)]
            token = airflow.token()
            api = f"{airflow.base}/api/v2/dags/taste_nightly"
            wait_for("the DAG parsed", lambda: _get(api, token), timeout=300)  # a busy machine parses slowly
            run = request(f"{api}/dagRuns", {"logical_date": None}, token)
            request(api, {"is_paused": False}, token, method="PATCH")  # new DAGs start paused, as in any Airflow
            state = wait_for(
                "the triggered run finished",
                lambda: _finished(f"{api}/dagRuns/{run['dag_run_id']}", token),
                timeout=RUN_SECONDS,
            )
            tasks = request(f"{api}/dagRuns/{run['dag_run_id']}/taskInstances", token=token)["task_instances"]
            started += [child.pid for child in psutil.Process(airflow.process.pid).children(recursive=True)]
        except BaseException:
            print((tmp_path / "standalone.log").read_text()[-4000:])
            raise
    assert state == "success", {(t["task_id"], t["map_index"]): t["state"] for t in tasks}
    # Unpausing also starts the latest scheduled night (catchup=False), which may run first: then this
    # run finds nothing new, `train` returns None and the gate is skipped, as on any quiet night.
    states = {(t["task_id"], t["map_index"]): t["state"] for t in tasks}
    assert len(states) == 9 and set(states.values()) <= {"success", "skipped"}, states  # people, 2 x sync, …
    assert all(
        states[(task, -1)] == "success" for task in ("people", "features", "train", "embed", "discover", "playlists")
    )
    with db.connection(deployment.settings) as conn:
        assert {name: info["likes"] for name, info in status(conn)["users"].items()} == {"alice": 120, "bob": 120}
    assert [pid for pid in started if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"] == []


def _get(url: str, token: str) -> dict | None:
    """The answer, or None while it is not there yet (404) or the busy API server missed one answer."""
    try:
        return request(url, token=token)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise
    except (TimeoutError, ConnectionError, urllib.error.URLError):
        return None


def _finished(url: str, token: str) -> str | None:
    answer = _get(url, token)
    state = answer["state"] if answer else None
    return state if state in ("success", "failed") else None
