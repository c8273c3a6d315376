"""`python -m taskcode authorize/sync` as real processes: summary and exit codes.

Kills at random points, rate-limit storms, faults of every kind and the
secrets check at DEBUG level are in tests/reliability/.
"""

from __future__ import annotations

import pytest

from tests.conftest import run_cli
from tests.integration.conftest import FAST_RETRIES


def cli_env(emulator, database_url, config) -> dict:
    return {**emulator.env(), "DATABASE_URL": database_url, "TASKCODE_CONFIG": str(config)}


def authorize_all(emulator, env):
    for person in emulator.library.people:
        result = run_cli(
            "authorize", "--user", person.name, "--refresh-token", emulator.refresh_token(person.name), env=env
        )
        assert result.returncode == 0, result.stderr
        assert f"authorized {person.name}: Spotify user {person.user_id}" in result.stdout


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
