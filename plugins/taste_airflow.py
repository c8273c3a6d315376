"""Airflow-only glue: deployments configure `taskcode` the Airflow way.

- `taste_db` (e.g. `AIRFLOW_CONN_TASTE_DB=postgresql://user:pass@host:5432/taste`)
  becomes `DATABASE_URL`;
- `spotify` (login = client id, password = client secret, extras `api_base`,
  `accounts_base`, `reccobeats_api_base`, `redirect_uri`) becomes the
  `SPOTIFY_*` settings.

A connection that is not defined is simply not used: the environment and
`config/config.yml` apply, as on the command line. Airflow masks connection
passwords in task logs; `taskcode` never logs them either.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

DB_CONN_ID = "taste_db"
SPOTIFY_CONN_ID = "spotify"
SPOTIFY_POOL = "spotify_api"  # created by airflow-init / `make airflow`; caps concurrent Spotify calls
SPOTIFY_POOL_SLOTS = 2

DEFAULT_ARGS = {
    "owner": "taste",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=5),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(hours=1),
}

_SPOTIFY_EXTRAS = {
    "api_base": "SPOTIFY_API_BASE",
    "accounts_base": "SPOTIFY_ACCOUNTS_BASE",
    "reccobeats_api_base": "RECCOBEATS_API_BASE",
    "redirect_uri": "SPOTIFY_REDIRECT_URI",
}


def run_step(step, *args, **kwargs):
    """Run one `taskcode.pipeline` step with settings from the Airflow Connections.

    A fault that waiting can cure (rate limits, Spotify down, the database
    away) fails the try and Airflow retries later; one that it cannot (a
    revoked authorization, bad config, too little data) fails the task at
    once with its one-line message, because retrying would only repeat it.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from taskcode.errors import DatabaseError, RetryLater, TaskcodeError

    try:
        return step(*args, env=taskcode_env(), **kwargs)
    except (RetryLater, DatabaseError):
        raise
    except TaskcodeError as exc:
        raise AirflowFailException(str(exc)) from None


def taskcode_env() -> dict[str, str]:
    """Settings for `taskcode` from the Airflow Connections that exist."""
    env: dict[str, str] = {}
    database = _connection(DB_CONN_ID)
    if database is not None:
        env["DATABASE_URL"] = postgres_url(database)
    spotify = _connection(SPOTIFY_CONN_ID)
    if spotify is not None:
        if spotify.login:
            env["SPOTIFY_CLIENT_ID"] = spotify.login
        if spotify.password:
            env["SPOTIFY_CLIENT_SECRET"] = spotify.password
        extras = spotify.extra_dejson
        env.update({var: str(extras[key]) for key, var in _SPOTIFY_EXTRAS.items() if extras.get(key)})
    return env


def postgres_url(conn) -> str:
    """A libpq URL from an Airflow Connection (Airflow names the database `schema`)."""
    auth = ""
    if conn.login:
        auth = quote(conn.login, safe="") + (f":{quote(conn.password, safe='')}" if conn.password else "") + "@"
    port = f":{conn.port}" if conn.port else ""
    return f"postgresql://{auth}{conn.host or 'localhost'}{port}/{conn.schema or ''}"


def nightly_schedule() -> str:
    """The cron expression of `schedule.nightly` in config.yml (validated there)."""
    from taskcode.config import load_settings
    from taskcode.errors import TaskcodeError

    try:
        return load_settings().schedule.nightly
    except TaskcodeError:  # a broken config must not hide the DAG; the tasks report it clearly
        return "0 3 * * *"


def local_environment(settings) -> dict[str, str]:
    """Environment for Airflow on the embedded default (`make demo`, `make airflow`).

    Airflow's metadata goes into a database `airflow` of the same local
    PostgreSQL (SQLite under the data folder when DATABASE_URL points elsewhere).
    """
    import os
    from pathlib import Path

    from taskcode import db

    project = Path(__file__).resolve().parent.parent
    home = settings.paths.data_dir / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    url = db.database_url(settings)
    metadata = f"sqlite:///{home / 'airflow.db'}"
    if settings.database.embedded:
        with db.connection(settings) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = 'airflow'")
                if cur.fetchone() is None:
                    cur.execute('CREATE DATABASE "airflow"')
        metadata = "postgresql+psycopg2://" + url.split("://", 1)[1].rsplit("/", 1)[0] + "/airflow"
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(project / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
        "DATABASE_URL": url,
        "PYTHONPATH": os.pathsep.join([str(project), str(project / "plugins")]),
    }


def _connection(conn_id: str):
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        return None


def test_run(dag_id: str, conf: dict | None = None) -> tuple[str, list[tuple[str, str, object]]]:
    """Run a DAG once in this process (Airflow's `dag.test()`), as `make demo` and the tests do.

    Returns the run's state and (task, state, returned value) for every task instance.
    """
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag()
    if bag.import_errors:
        path, error = next(iter(bag.import_errors.items()))
        raise RuntimeError(f"{path} does not import: {error.strip().splitlines()[-1]}")
    run = bag.get_dag(dag_id).test(run_conf=conf or {})
    tasks = []
    for ti in sorted(run.get_task_instances(), key=lambda ti: (ti.start_date or run.start_date, ti.map_index)):
        name = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.rendered_map_index or ti.map_index}]"
        tasks.append((name, str(ti.state), ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index)))
    return str(run.state), tasks
