"""The nightly job's steps, one function each: what the Airflow tasks call.

Each step opens its own settings and database connection, so that it runs in
any worker process, and returns a small JSON-able summary (Airflow keeps it
as the task's XCom and it shows in the task log). Each step leaves a `runs`
row, as the same stage run from the command line does. `env` carries settings
built outside the config file, e.g. from Airflow Connections.

    people -> sync (one per person) -> features -> train -> evaluate_and_promote -> embed -> discover -> playlists
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping

from taskcode import db, runs
from taskcode.config import Settings, load_settings
from taskcode.log import setup_logging

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _open(env: Mapping[str, str] | None) -> Iterator[tuple[Settings, object]]:
    settings = load_settings(env=env)
    setup_logging(settings.log_level)
    conn = db.open_migrated(settings, application_name="taskcode-pipeline")
    try:
        yield settings, conn
    finally:
        conn.close()


def people(names: list[str] | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """The people to sync: the named ones, else everyone who has authorized."""
    from taskcode import sync

    with _open(env) as (settings, conn):
        return [p.name for p in sync.plan(settings, conn, names or None).ready]


def sync_person(name: str, full: bool = False, env: Mapping[str, str] | None = None) -> dict:
    """One person's new liked songs (a person's failure is their task's failure only)."""
    from taskcode import sync

    with _open(env) as (settings, conn):
        [person] = sync.plan(settings, conn, [name]).ready
        with runs.recorded(conn, "sync") as run:
            run.summary = {"person": name, **sync.sync_person(settings, conn, person, full=full).as_dict()}
    return run.summary


def features(env: Mapping[str, str] | None = None) -> dict:
    """Audio features for every track that has none yet, shared across people."""
    from taskcode import features as stage

    with _open(env) as (settings, conn):
        return stage.run(settings, conn).as_dict()


def train(force: bool = False, env: Mapping[str, str] | None = None) -> int | None:
    """A new candidate version, or None when data and config did not change."""
    from taskcode import train as stage

    with _open(env) as (settings, conn):
        return stage.train(settings, conn, force=force).version


def evaluate_and_promote(version: int, env: Mapping[str, str] | None = None) -> dict:
    """The F1 gate: the candidate becomes champion only if it beats the current one."""
    from taskcode import promotion

    with _open(env) as (settings, conn):
        decision = promotion.evaluate_and_promote(settings, conn, version)
    return decision.as_dict()


def embed(fresh: bool = False, env: Mapping[str, str] | None = None) -> dict:
    """The champion's map, with tonight's new songs placed into it (or drawn anew)."""
    from taskcode import embed as stage
    from taskcode import registry

    with _open(env) as (settings, conn):
        if registry.champion(conn) is None:  # no model has passed the gate yet: a quiet night, as discover's
            log.info("no champion model yet, so there is nothing to map")
            return {"skipped": "no champion model yet, so there is nothing to map"}
        return stage.embed(settings, conn, fresh=fresh).as_dict()


def discover(env: Mapping[str, str] | None = None) -> dict:
    """Each person's best catalog songs they have not liked yet (when a catalog is configured)."""
    from taskcode import predict

    with _open(env) as (settings, conn):
        return predict.store_discoveries(settings, conn)


def playlists(env: Mapping[str, str] | None = None) -> dict:
    """The opted-in playlists rewritten in Spotify; a person who must authorize again is named, not fatal."""
    from taskcode.playlists import write_playlists

    with _open(env) as (settings, conn):
        return write_playlists(settings, conn)
