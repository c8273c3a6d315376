"""`python -m taskcode authorize/sync` as real processes: exit codes, kills, secrets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psycopg2
import pytest

from taskcode.emulator import Emulator
from taskcode.library import generate
from tests.conftest import PROJECT_ROOT, run_cli
from tests.integration.conftest import FAST_RETRIES


def cli_env(emulator, database_url, config) -> dict:
    return {**emulator.env(), "DATABASE_URL": database_url, "TASKCODE_CONFIG": str(config)}


def authorize_all(emulator, env):
    for person in emulator.library.people:
        result = run_cli("authorize", "--user", person.name,
                         "--refresh-token", emulator.refresh_token(person.name), env=env)
        assert result.returncode == 0, result.stderr
        assert f"authorized {person.name}: Spotify user {person.user_id}" in result.stdout


def snapshot(database_url) -> dict:
    """Everything a sync writes, minus the times at which it wrote it."""
    queries = {
        "likes": """SELECT p.name, l.track_id, l.added_at, l.removed_at IS NOT NULL
                      FROM likes l JOIN people p USING (person_id) ORDER BY 1, 2""",
        "tracks": """SELECT track_id, name, artists, artist_ids, album_id, album_name, release_date,
                            release_year, duration_ms, explicit FROM tracks ORDER BY 1""",
        "features": """SELECT track_id, source, danceability, energy, key, loudness, mode, speechiness,
                              acousticness, instrumentalness, liveness, valence, tempo, time_signature,
                              duration_ms FROM audio_features ORDER BY 1""",
        "watermarks": """SELECT p.name, s.watermark_added_at, s.watermark_track_ids
                           FROM sync_state s JOIN people p USING (person_id) ORDER BY 1""",
        "misses": "SELECT track_id FROM feature_misses ORDER BY 1",
    }
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            result = {}
            for name, sql in queries.items():
                cur.execute(sql)
                result[name] = cur.fetchall()
            return result
    finally:
        conn.close()


@pytest.fixture
def config(write_config):
    return write_config(FAST_RETRIES)


def test_sync_command_prints_a_summary(emulator, database_url, config):
    env = cli_env(emulator, database_url, config)
    authorize_all(emulator, env)
    result = run_cli("sync", env=env)
    assert result.returncode == 0, result.stderr
    assert "alice: 120 new, 0 removed, 3 page(s)" in result.stdout
    assert f"features: {len(emulator.library.owners())} wanted" in result.stdout
    assert "API calls: " in result.stdout


def test_revoked_person_exits_5_with_one_line(emulator, database_url, config):
    env = cli_env(emulator, database_url, config)
    authorize_all(emulator, env)
    emulator.revoke("bob")
    emulator.expire_access_tokens()
    result = run_cli("sync", env=env)
    assert result.returncode == 5
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: sync failed for bob:") and "authorize --user bob" in last
    assert "Traceback" not in result.stderr


def test_long_retry_after_exits_75(emulator, database_url, config):
    env = cli_env(emulator, database_url, config)
    authorize_all(emulator, env)
    emulator.rate_limit("tracks", retry_after=7200)
    result = run_cli("sync", env=env)
    assert result.returncode == 75
    assert "7200 s" in result.stderr.strip().splitlines()[-1]


def test_no_token_or_secret_in_debug_output(emulator, database_url, config):
    env = {**cli_env(emulator, database_url, config), "LOG_LEVEL": "DEBUG"}
    refresh_tokens = [emulator.refresh_token(p.name) for p in emulator.library.people]
    authorize_all(emulator, env)
    emulator.expire_access_tokens()  # force refreshes during the run
    emulator.fail("tracks", status=503, count=2)
    result = run_cli("sync", env=env)
    assert result.returncode == 0, result.stderr
    assert "DEBUG" in result.stderr  # the level was honoured
    conn = psycopg2.connect(database_url)
    with conn.cursor() as cur:
        cur.execute("SELECT token_info->>'access_token' FROM spotify_tokens")
        access_tokens = [row[0] for row in cur.fetchall()]
    conn.close()
    output = result.stdout + result.stderr
    for secret in refresh_tokens + access_tokens + [emulator.client_secret]:
        assert secret and secret not in output


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [2, 9, 23])
def test_sync_killed_mid_run_then_rerun_equals_uninterrupted(database_url, pg_cluster, write_config, kill_after):
    """SIGKILL after k answered calls (pages or feature batches), re-run: same rows as one clean run."""
    config = write_config(FAST_RETRIES)
    library = generate(people=2, tracks=400, seed=21)
    reference_url = _fresh_database(pg_cluster, f"reference_{kill_after}")

    with Emulator(library) as emulator:
        env = cli_env(emulator, reference_url, config)
        authorize_all(emulator, env)
        assert run_cli("sync", env=env).returncode == 0
    expected = snapshot(reference_url)

    with Emulator(library) as emulator:
        env = cli_env(emulator, database_url, config)
        authorize_all(emulator, env)
        emulator.latency("tracks", 0.02)
        emulator.latency("audio_features", 0.02)
        emulator.clear_requests()
        process = subprocess.Popen(
            [sys.executable, "-m", "taskcode", "sync"], env={**os.environ, **env,
                                                             "PYTHONPATH": str(PROJECT_ROOT)},
            cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while len(emulator.requests()) < kill_after and process.poll() is None:
            assert time.monotonic() < deadline, "the sync never made enough calls"
            time.sleep(0.005)  # polling the server's log: the condition, not the sleep, synchronises
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL, "the sync ended before it could be killed"
        half = snapshot(database_url)
        assert len(half["likes"]) < len(expected["likes"]) or len(half["features"]) < len(expected["features"])
        emulator.latency("tracks", 0)
        emulator.latency("audio_features", 0)
        rerun = run_cli("sync", env=env)
        assert rerun.returncode == 0, rerun.stderr
    assert snapshot(database_url) == expected


def _fresh_database(pg_cluster, name: str) -> str:
    conn = psycopg2.connect(pg_cluster["url"])
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return pg_cluster["url"].rsplit("/", 1)[0] + "/" + name
