"""States of a database that the real pipeline produces only on rare nights.

The dashboard tests fill their database with the real pipeline (see
conftest.py); these two helpers add what a night of trouble leaves behind:
a `sync --full` that found two likes gone, and an embed that was killed
mid-way (an incomplete map the dashboard must never show).
"""

from __future__ import annotations

import datetime as dt
import json

from emulator import Library
from taskcode.db import transaction


def simulate_crashed_embed(conn, version: int) -> None:
    """A newer map that never completed (the embed step died mid-way): readers must ignore it."""
    with transaction(conn) as cur:
        cur.execute(
            "INSERT INTO maps (model_version, complete, params) VALUES (%s, false, %s) RETURNING map_id",
            (version, json.dumps({"note": "crashed"})),
        )
        map_id = cur.fetchone()[0]
        cur.execute(
            """INSERT INTO map_points (map_id, track_id, x, y, hidden, probabilities, owners,
                                       predicted, out_of_place, confidence)
               SELECT %s, track_id, 1000 + row_number() OVER (), 1000, '{0}', '{0.5,0.5}', '{}', 'nobody', false, 0.5
                 FROM tracks ORDER BY track_id LIMIT 5""",
            (map_id,),
        )
    record_run(conn, "embed", "failed", dt.datetime.now(dt.UTC), {"error": "killed mid-way"})


def sync_full_removes_two_likes(conn, library: Library) -> None:
    """What a `sync --full` leaves when the first person un-liked two songs on Spotify, and its run."""
    with transaction(conn) as cur:
        cur.execute(
            """UPDATE likes SET removed_at = now()
                WHERE (person_id, track_id) IN (
                      SELECT l.person_id, l.track_id FROM likes l JOIN people p USING (person_id)
                       WHERE p.name = (SELECT min(name) FROM people)
                       ORDER BY l.track_id LIMIT 2)"""
        )
    record_run(
        conn,
        "sync",
        "succeeded",
        dt.datetime.now(dt.UTC) - dt.timedelta(hours=3),
        {
            "people": {p.name: {"new": len(library.likes_of(p.name))} for p in library.people},
            "features": {"wanted": len(library.tracks), "found": {"spotify": len(library.tracks)}},
        },
    )


def record_run(conn, kind, status, started_at, summary) -> None:
    with transaction(conn) as cur:
        cur.execute(
            """INSERT INTO runs (kind, started_at, finished_at, status, summary)
               VALUES (%s, %s, %s + interval '42 seconds', %s, %s)""",
            (kind, started_at, started_at, status, json.dumps(summary)),
        )
