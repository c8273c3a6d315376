"""Rate limits and bursts of server errors, across people and on every service we call.

Single-client storms, an hour-long `Retry-After` on /me/tracks and 503
bursts on /me/tracks are in tests/integration/test_sync.py; here: the storm
shared by people syncing side by side (as the nightly DAG's pool does),
hour-long waits asked by the feature sources, a used-up daily quota, and
bursts on every endpoint at once, all through the real command line.
"""

from __future__ import annotations

import time

import pytest

from emulator import Emulator, generate
from tests.conftest import run_cli
from tests.reliability.conftest import (
    Command,
    assert_sync_consistent,
    authorize_everyone,
    cli_env,
    one_line_error,
    rows,
)

pytestmark = pytest.mark.slow


def feature_state(url: str) -> tuple[set, set]:
    return (
        {t for (t,) in rows(url, "SELECT track_id FROM audio_features")},
        {t for (t,) in rows(url, "SELECT track_id FROM feature_misses")},
    )


def expected_features(library) -> tuple[set, set]:
    known = {t for t in library.owners() if library.tracks[t]["known_by"]}
    return known, set(library.owners()) - known


def test_a_429_storm_shared_by_people_syncing_side_by_side_is_honoured(database_url, config, tmp_path):
    library = generate(people=2, tracks=100, seed=21)
    with Emulator(library) as emulator:
        env = cli_env(emulator, database_url, config)
        authorize_everyone(emulator, database_url, config)
        # The limit is the app's, shared by everyone: every 3rd call opens a 1 s window of 429s, 3 times.
        emulator.rate_limit("tracks", every=3, retry_after=1, times=3)
        started = time.monotonic()
        syncs = [Command(tmp_path, "sync", "--user", name, "--no-features", env=env) for name in ("alice", "bob")]
        results = [sync.finish() for sync in syncs]
        elapsed = time.monotonic() - started
        for result in results:
            assert result.returncode == 0, result.stderr
        limited = [r for r in emulator.requests("tracks") if r["status"] == 429]
    # A client that honours Retry-After meets each window at most once: 3 windows, 2 clients.
    # One that retried after its own short back-off (0.05-0.2 s) would run into a window again and again.
    assert 3 <= len(limited) <= 6, len(limited)
    assert elapsed >= 3  # three 1-second windows were waited out
    assert_sync_consistent(database_url, library)
    assert rows(database_url, "SELECT count(*) FROM likes") == [(200,)]


@pytest.mark.parametrize("endpoint", ["audio_features", "reccobeats"])
def test_an_hour_long_retry_after_from_a_feature_source_fails_fast_and_the_next_run_recovers(
    database_url, catalog_config, endpoint
):
    # Some songs no source knows: after the limited source, the others cannot say they are unknown.
    library = generate(people=2, tracks=60, seed=5, unknown_features=0.1)
    spotify = endpoint == "audio_features"  # an extended-quota app asks Spotify first; a new one, ReccoBeats
    config = catalog_config(library, spotify_first=spotify)
    with Emulator(library, extended_quota=spotify) as emulator:
        env = cli_env(emulator, database_url, config)
        authorize_everyone(emulator, database_url, config)
        emulator.rate_limit(endpoint, every=1, retry_after=3600, times=1)
        started = time.monotonic()
        result = run_cli("sync", env=env)
        assert time.monotonic() - started < 30  # no hour of sleeping inside the task
        error = one_line_error(result, 75)
        assert "asks to wait 3600 s" in error and "try again later" in error
        assert_sync_consistent(database_url, library)  # the likes are kept
        assert rows(database_url, "SELECT count(*) FROM likes") == [(120,)]
        assert feature_state(database_url) != expected_features(library)

        emulator.clear_faults()
        again = run_cli("sync", env=env)
        assert again.returncode == 0, again.stderr
    assert feature_state(database_url) == expected_features(library)


def test_a_used_up_daily_quota_is_not_waited_for(database_url, config):
    library = generate(people=2, tracks=40, seed=8)
    with Emulator(library) as emulator:
        authorize_everyone(emulator, database_url, config)
        emulator.rate_limit("tracks", every=2, retry_after=30, reason="QUOTA_EXCEEDED", times=1)
        result = run_cli("sync", env=cli_env(emulator, database_url, config))
        assert len(emulator.requests("tracks")) == 2  # asked once more after the first page, then stopped
    error = one_line_error(result, 75)
    assert "daily quota is used up (429 QUOTA_EXCEEDED); try again tomorrow" in error
    assert_sync_consistent(database_url, library)


def test_bursts_of_503_on_every_service_at_once_are_survived(database_url, catalog_config):
    library = generate(people=2, tracks=60, seed=5)
    config = catalog_config(library, spotify_first=True)  # every service: Spotify's /audio-features too
    with Emulator(library, extended_quota=True) as emulator:
        env = cli_env(emulator, database_url, config)
        authorize_everyone(emulator, database_url, config)
        emulator.expire_access_tokens()
        for endpoint in ("token", "tracks", "audio_features", "reccobeats"):
            emulator.fail(endpoint, status=503, count=4)  # 4 of a call's 6 attempts
        result = run_cli("sync", env=env)
        assert result.returncode == 0, result.stderr
        for endpoint in ("token", "tracks", "audio_features", "reccobeats"):
            statuses = [r["status"] for r in emulator.requests(endpoint)]
            assert statuses[:4] == [503] * 4 and 200 in statuses, (endpoint, statuses)
    assert_sync_consistent(database_url, library)
    assert rows(database_url, "SELECT count(*) FROM likes") == [(120,)]
    assert feature_state(database_url) == expected_features(library)
