"""Airflow-only glue, loaded by every scheduler: deployments configure `taskcode` the Airflow way.

- `taste_db` (e.g. `AIRFLOW_CONN_TASTE_DB=postgresql://user:pass@host:5432/taste`)
  becomes `DATABASE_URL`;
- `spotify` (login = client id, password = client secret, extras `api_base`,
  `accounts_base`, `reccobeats_api_base`, `redirect_uri`) becomes the
  `SPOTIFY_*` settings.

A connection that is not defined is simply not used: the environment and
`config/config.yml` apply, as on the command line. Airflow masks connection
passwords in task logs; `taskcode` never logs them either.

Developer tooling (a local Airflow, one in-process DAG run) is in
scripts/airflow_dev.py, not here.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

DB_CONN_ID = "taste_db"
SPOTIFY_CONN_ID = "spotify"
# Spotify's rate limit is per app: at most this many people are synced at once, across all runs
# (backfills included). A task attribute, not a pool: a pool must be created in each Airflow, and a
# task in a pool that does not exist is never scheduled (Airflow 3 says so in the scheduler's log only).
SPOTIFY_SYNCS_AT_ONCE = 2
# A stuck run (a hung connection, a worker gone) ends failed before the next night's run is due,
# instead of holding the one active run forever.
DAGRUN_TIMEOUT = dt.timedelta(hours=20)

DEFAULT_ARGS = {
    "owner": "taste",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=5),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(hours=1),
    # Each task runs one at a time across runs (`sync` allows SPOTIFY_SYNCS_AT_ONCE): a backfill
    # starts several runs at once (its own --max-active-runs, default 10, not the DAG's
    # max_active_runs), and two of them must not fetch features, train or draw the map side by side.
    "max_active_tis_per_dag": 1,
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


def _connection(conn_id: str):
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        return None
