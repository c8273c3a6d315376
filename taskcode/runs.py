"""The `runs` table: one row per stage run, whichever path started it (the CLI or the nightly DAG).

A stage runs inside `recorded(conn, kind)`: the row is inserted before the
stage starts and finished in a transaction of its own, so that a stage that
fails still says so (its error in the summary), and the dashboard's Data page
lists every stage the same way. A process killed mid-stage leaves its row
'running': the next run closes it (`start_run`).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg2

from taskcode import db

log = logging.getLogger(__name__)
RUN_LOCK = 73015  # pg_advisory_lock(RUN_LOCK, run_id): held by the process doing that run


@dataclass
class Run:
    """What the stage tells its row: a JSON-able summary, and 'skipped' when it had nothing to do."""

    run_id: int
    summary: dict = field(default_factory=dict)
    status: str = "succeeded"


@contextlib.contextmanager
def recorded(conn, kind: str) -> Iterator[Run]:
    """Record the stage run in the block: 'failed' (with the error) if it raises, else `run.status`."""
    with db.transaction(conn) as cur:
        run = Run(start_run(cur, kind))
    try:
        yield run
    except BaseException as exc:
        try:
            _finish(conn, run, "failed", run.summary | {"error": str(exc) or type(exc).__name__})
        except psycopg2.Error as lost:  # the database went away: the stage's own error matters more
            log.warning("could not record the end of run %s: %s", run.run_id, lost)
        raise
    _finish(conn, run, run.status, run.summary)


def _finish(conn, run: Run, status: str, summary: dict) -> None:
    with db.transaction(conn) as cur:
        finish_run(cur, run.run_id, status, summary)


def start_run(cur, kind: str) -> int:
    """A `runs` row for this run, held by this session until `finish_run`.

    Rows that a killed process left 'running' are closed here: nobody holds
    their lock any more (PostgreSQL drops it with the dead session).
    """
    cur.execute("INSERT INTO runs (kind) VALUES (%s) RETURNING run_id", (kind,))
    run_id = cur.fetchone()[0]
    cur.execute("SELECT pg_advisory_lock(%s, %s)", (RUN_LOCK, _lock_key(run_id)))
    cur.execute("SELECT run_id FROM runs WHERE status = 'running' AND run_id <> %s", (run_id,))
    for (other,) in cur.fetchall():
        cur.execute("SELECT pg_try_advisory_lock(%s, %s)", (RUN_LOCK, _lock_key(other)))
        if cur.fetchone()[0]:
            cur.execute(
                """UPDATE runs SET status = 'failed', finished_at = now(),
                                  summary = summary || '{"error": "abandoned: its process ended without finishing"}'
                    WHERE run_id = %s""",
                (other,),
            )
            cur.execute("SELECT pg_advisory_unlock(%s, %s)", (RUN_LOCK, _lock_key(other)))
    return run_id


def finish_run(cur, run_id: int, status: str, summary: dict) -> None:
    cur.execute(
        "UPDATE runs SET finished_at = now(), status = %s, summary = %s WHERE run_id = %s",
        (status, json.dumps(summary, default=str), run_id),
    )
    cur.execute("SELECT pg_advisory_unlock(%s, %s)", (RUN_LOCK, _lock_key(run_id)))


def _lock_key(run_id: int) -> int:
    return run_id % 2_147_483_647  # the two-key form of advisory locks takes 32-bit integers
