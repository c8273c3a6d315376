"""SIGKILL `python -m taskcode sync` anywhere; the next run ends exactly where an uninterrupted run ends.

Property-style: each seed's RNG picks where the kill lands, among three kinds
of moment: after k answered pages of liked songs, during the feature fetch
(after j answered feature calls), and inside a database write (a chosen
INSERT into tracks, likes, sync_state or audio_features, made slow by a
test-only trigger and killed while `pg_stat_activity` shows it running).
Right after each kill the database must hold each person's likes all or
nothing with a watermark that agrees; after a re-run it must equal, row for
row, the database of a sync that was never interrupted.
"""

from __future__ import annotations

import random

import pytest

from emulator import Emulator, generate
from tests.conftest import run_cli
from tests.reliability.conftest import (
    CONFIG,
    Command,
    assert_sync_consistent,
    authorize_everyone,
    cli_env,
    fast_writes,
    slow_writes,
    snapshot,
    wait_for_backends_gone,
    wait_for_calls,
    wait_for_write,
)

pytestmark = pytest.mark.slow

LIBRARY = dict(people=2, tracks=100, seed=21)  # 20 songs a page: 5 pages a person; 3 feature calls
KINDS = ("pages", "features", "write")
SEEDS = range(6)  # two of each kind, each with its own random kill point
WRITES = ("tracks", "likes", "sync_state", "audio_features")


@pytest.fixture(scope="module")
def reference(module_database, tmp_path_factory):
    """The database after one uninterrupted `sync` of the library."""
    config = tmp_path_factory.mktemp("sync-reference") / "config.yml"
    config.write_text(CONFIG)
    url = module_database("sync_reference")
    with Emulator(generate(**LIBRARY)) as emulator:
        authorize_everyone(emulator, url, config)
        result = run_cli("sync", env=cli_env(emulator, url, config))
        assert result.returncode == 0, result.stderr
    expected = snapshot(url)
    assert all(expected.values()), "the reference run stored nothing"
    return expected


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed{s}-{KINDS[s % 3]}" for s in SEEDS])
def test_a_killed_sync_then_a_rerun_equals_an_uninterrupted_sync(seed, reference, database_url, config, tmp_path):
    rng = random.Random(seed)
    kind = KINDS[seed % len(KINDS)]
    library = generate(**LIBRARY)
    with Emulator(library) as emulator:
        env = cli_env(emulator, database_url, config)
        authorize_everyone(emulator, database_url, config)
        if kind == "pages":
            k = rng.randint(1, 9)  # 10 pages in all
            emulator.latency("tracks", 0.05)
            sync = Command(tmp_path, "sync", env=env)
            wait_for_calls(emulator, ("tracks",), k, sync)
        elif kind == "features":
            j = rng.randint(1, 2)  # 2 calls to /audio-features, then ReccoBeats for what Spotify lacks
            emulator.latency("audio_features", 0.1)
            emulator.latency("reccobeats", 0.1)
            sync = Command(tmp_path, "sync", env=env)
            wait_for_calls(emulator, ("audio_features", "reccobeats"), j, sync)
        else:
            table, occurrence = rng.choice(WRITES), rng.randint(1, 2)  # alice's or bob's (or batch 1 or 2)
            slow_writes(database_url, table, 0.4)
            sync = Command(tmp_path, "sync", env=env)
            wait_for_write(database_url, table, sync, occurrence)
        sync.kill()
        wait_for_backends_gone(database_url)

        assert_sync_consistent(database_url, library)
        assert snapshot(database_url) != reference, "the kill landed after the sync had finished its work"

        for table in WRITES:
            fast_writes(database_url, table)
        for endpoint in ("tracks", "audio_features", "reccobeats"):
            emulator.latency(endpoint, 0)
        rerun = run_cli("sync", env=env)
        assert rerun.returncode == 0, rerun.stderr
    assert snapshot(database_url) == reference
