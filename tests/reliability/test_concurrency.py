"""Syncs that overlap, and the dashboard reading meanwhile.

In production two syncs meet when someone triggers one by hand during the
nightly run (same person), and every night the DAG's mapped sync tasks run
side by side (different people, often sharing songs). Neither may corrupt,
duplicate or fail, and the dashboard's read-only questions must only ever
see a person's likes from before a sync or after it, never in between.
"""

from __future__ import annotations

import pytest

from emulator import Emulator, generate
from taskcode.sync import SYNC_LOCK
from tests.reliability.conftest import (
    Command,
    DashboardReader,
    active_writes,
    assert_sync_consistent,
    authorize_everyone,
    changes,
    cli_env,
    probe,
    slow_writes,
    snapshot,
    wait_for_write,
    wait_until,
)

pytestmark = pytest.mark.slow


def sync_lock_holders(ask, name: str) -> list[bool]:
    """`granted` of every session holding or awaiting the person's sync lock (`ask`: see `probe`)."""
    return [
        granted
        for (granted,) in ask(
            """
        SELECT l.granted FROM pg_locks l JOIN people p ON l.objid = p.person_id
         WHERE l.locktype = 'advisory' AND l.classid = %s AND l.objsubid = 2 AND p.name = %s""",
            (SYNC_LOCK, name),
        )
    ]


def test_two_syncs_of_one_person_at_once_store_every_like_once_and_readers_see_all_or_nothing(
    database_url, config, tmp_path
):
    library = generate(people=2, tracks=100, seed=21)
    with Emulator(library) as emulator:
        env = cli_env(emulator, database_url, config)
        authorize_everyone(emulator, database_url, config)
        emulator.latency("tracks", 0.3)  # the first to take the lock holds it for 2 s or more
        slow_writes(database_url, "likes", 0.5)
        with DashboardReader(database_url) as reader:
            nightly = Command(tmp_path, "sync", "--user", "alice", "--no-features", env=env)
            manual = Command(tmp_path, "sync", "--user", "alice", "--no-features", env=env)
            # One holds alice's sync lock, the other waits for it: the two runs overlap.
            with probe(database_url) as ask:
                wait_until(
                    lambda: sorted(sync_lock_holders(ask, "alice")) == [False, True],
                    "one sync holding alice's lock while the other waits",
                )
            wait_for_write(database_url, "likes", nightly if nightly.running() else manual)
            reader.look_again()  # while alice's likes are being written
            results = [nightly.finish(), manual.finish()]
            reader.look_again()
    for result in results:
        assert result.returncode == 0, result.stderr
    summaries = sorted(result.stdout.splitlines()[0] for result in results)
    assert summaries == ["alice: 0 new, 0 removed, 1 page(s)", "alice: 100 new, 0 removed, 5 page(s)"]
    # The one that waited read the watermark after the other's commit: one page, nothing twice.
    assert len([r for r in emulator.requests("tracks") if r["status"] == 200]) == 6
    stored = snapshot(database_url)["likes"]
    assert len(stored) == len({(name, track) for name, track, *_ in stored}) == 100
    assert_sync_consistent(database_url, library)
    assert changes(reader.like_counts("alice")) == [0, 100]
    assert changes(reader.like_counts("bob")) == [0]


def test_people_who_share_songs_sync_side_by_side_without_deadlock(database_url, config, tmp_path):
    """The nightly DAG syncs people in parallel; two who like the same songs in opposite order must not
    lock each other's new tracks crosswise (PostgreSQL would abort one of them: a deadlock)."""
    library = generate(people=2, tracks=20, seed=3)
    with Emulator(library) as emulator:
        shared = [emulator.add_like("alice") for _ in range(30)]
        for i, track in enumerate(shared):  # alice liked them in one order, bob in the other
            emulator.add_like("alice", track_id=track, added_at=f"2026-11-02T00:00:{i:02d}Z")
            emulator.add_like("bob", track_id=track, added_at=f"2026-11-02T00:00:{59 - i:02d}Z")
        env = cli_env(emulator, database_url, config)
        authorize_everyone(emulator, database_url, config)
        slow_writes(database_url, "tracks", 0.03, each_row=True)  # ~1.5 s per person's write
        syncs = [Command(tmp_path, "sync", "--user", name, "--no-features", env=env) for name in ("alice", "bob")]

        with probe(database_url) as ask:

            def both_writing():
                if len({pid for pid, _ in active_writes(ask, "tracks")}) == 2:
                    return True
                assert any(sync.running() for sync in syncs), "the two syncs never wrote at the same time"
                return False

            wait_until(both_writing, "both syncs writing tracks at once", interval=0.005)
        results = [sync.finish() for sync in syncs]
    for result in results:
        assert result.returncode == 0, result.stderr
    assert_sync_consistent(database_url, library)
