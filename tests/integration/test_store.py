"""Batched upserts: re-running never duplicates, partial answers never blank fields."""

import datetime as dt
import time

from emulator import generate
from emulator.database import load_into_database
from taskcode import db, runs, store
from taskcode.items import SavedTrack, TrackRow

T1, T2 = "A" * 22, "B" * 22
NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _count(conn, table):
    with db.transaction(conn) as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        return cur.fetchone()[0]


def test_upserts_are_idempotent(conn):
    rows = [TrackRow(T1, "one", ("x",), ("X" * 22,), duration_ms=1000), TrackRow(T2, "two")]
    saved = [SavedTrack(rows[0], NOW), SavedTrack(rows[1], NOW - dt.timedelta(days=1))]
    for attempt in range(2):
        with db.transaction(conn) as cur:
            person = store.ensure_person(cur, "alice")
            store.upsert_tracks(cur, rows)
            new = store.upsert_likes(cur, person, saved)
        assert new == (2 if attempt == 0 else 0)
    assert _count(conn, "people") == 1 and _count(conn, "tracks") == 2 and _count(conn, "likes") == 2


def test_missing_fields_do_not_blank_known_ones(conn):
    with db.transaction(conn) as cur:
        store.upsert_tracks(cur, [TrackRow(T1, "one", ("x",), ("X" * 22,), album_name="LP", duration_ms=5)])
        store.upsert_tracks(cur, [TrackRow(T1)])  # a later answer without album or artists
        cur.execute("SELECT name, artists, album_name, duration_ms FROM tracks")
        assert cur.fetchone() == ("one", ["x"], "LP", 5)


def test_removed_like_comes_back_when_liked_again(conn):
    with db.transaction(conn) as cur:
        person = store.ensure_person(cur, "alice")
        store.upsert_tracks(cur, [TrackRow(T1), TrackRow(T2)])
        store.upsert_likes(cur, person, [SavedTrack(TrackRow(T1), NOW), SavedTrack(TrackRow(T2), NOW)])
        assert store.mark_removed(cur, person, {T1}, NOW) == 1
        cur.execute("SELECT track_id FROM likes WHERE person_id = %s AND removed_at IS NULL", (person,))
        assert {track_id for (track_id,) in cur.fetchall()} == {T1}
        assert store.upsert_likes(cur, person, [SavedTrack(TrackRow(T2), NOW + dt.timedelta(days=3))]) == 1
        cur.execute("SELECT count(*) FROM likes WHERE removed_at IS NULL")
        assert cur.fetchone()[0] == 2


def test_feature_misses_wait_before_retrying(conn):
    with db.transaction(conn) as cur:
        store.upsert_tracks(cur, [TrackRow(T1), TrackRow(T2)])
        assert store.tracks_without_features(cur, 7) == [T1, T2]
        store.record_misses(cur, [T1])
        assert store.tracks_without_features(cur, 7) == [T2]
        assert store.tracks_without_features(cur, 0) == [T1, T2]
        store.upsert_features(cur, [{"track_id": T1, "source": "csv", "energy": 0.5}])
        cur.execute("SELECT count(*) FROM feature_misses")
        assert cur.fetchone()[0] == 0
        assert store.tracks_without_features(cur, 0) == [T2]


def test_load_into_database_matches_the_library(conn, settings):
    from taskcode.status import status

    library = generate(people=2, tracks=100, overlap=0.1, seed=4)
    load_into_database(conn, library)
    load_into_database(conn, library)  # twice: still the same rows
    report = status(conn)
    assert report["users"]["alice"]["likes"] == 100 and report["users"]["bob"]["likes"] == 100
    assert report["tracks"] == len(library.tracks)
    assert report["tracks_with_features"] == sum(1 for t in library.tracks.values() if t["known_by"])


def test_odd_text_survives_the_staging_copy(conn):
    odd = ('Ærøskøbing, "Ñandú" {Çelik}', "back\\slash", "tab\tand\nnewline", "東京", "")
    row = TrackRow(
        T1,
        'name, with "quotes"\n',
        odd,
        ("X" * 22,) * len(odd),
        album_name="NULL",
        release_date="2020",
        release_year=2020,
        duration_ms=1,
        explicit=False,
    )
    with db.transaction(conn) as cur:
        store.upsert_tracks(cur, [row])
        store.upsert_tracks(cur, [row, TrackRow(T2)])  # twice in one transaction: the staging table is emptied
        cur.execute("SELECT name, artists, album_name, explicit FROM tracks WHERE track_id = %s", (T1,))
        assert cur.fetchone() == ('name, with "quotes"\n', list(odd), "NULL", False)
        cur.execute("SELECT count(*) FROM tracks")
        assert cur.fetchone()[0] == 2


def test_a_run_left_running_by_a_dead_process_is_closed_by_the_next(conn, settings):
    other = db.connect(settings)
    with db.transaction(other) as cur:
        dead = runs.start_run(cur, "sync")
    alive_conn = db.connect(settings)
    with db.transaction(alive_conn) as cur:
        alive = runs.start_run(cur, "train")  # still running: its session holds its lock
    dead_backend = other.get_backend_pid()
    other.close()  # the process of the first run dies without finishing it
    _wait_until_gone(conn, dead_backend)  # PostgreSQL drops its locks when the backend has exited
    with db.transaction(conn) as cur:
        mine = runs.start_run(cur, "sync")
        cur.execute("SELECT run_id, status, summary->>'error' FROM runs ORDER BY run_id")
        rows = cur.fetchall()
    assert rows == [
        (dead, "failed", "abandoned: its process ended without finishing"),
        (alive, "running", None),
        (mine, "running", None),
    ]
    with db.transaction(alive_conn) as cur:
        runs.finish_run(cur, alive, "succeeded", {})
    alive_conn.close()


def _wait_until_gone(conn, backend_pid: int, timeout: float = 30) -> None:
    """Wait for a closed session's server process to end (it exits after the client hangs up)."""
    deadline = time.monotonic() + timeout
    while True:
        with db.transaction(conn) as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (backend_pid,))
            if cur.fetchone()[0] == 0:
                return
        assert time.monotonic() < deadline, f"backend {backend_pid} still there after {timeout} s"
