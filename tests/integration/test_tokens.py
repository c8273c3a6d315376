"""Token lifecycle: refresh tokens that expire, the warning before, the way back, and the five-people limit.

Real processes (`python -m taskcode`) against the emulator, whose clock the
tests move past a token's lifetime instead of waiting half a year.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime

import pytest

from emulator import Emulator, generate
from taskcode import db, sync
from taskcode.authorize import authorize
from taskcode.config import load_settings
from taskcode.errors import AuthorizationError
from taskcode.status import format_status, status
from tests.conftest import run_cli
from tests.reliability.conftest import one_line_error

# Not the default chain: this test must not depend on which source comes first by default.
SOURCES = "features:\n  sources: [reccobeats, csv]\n"


def rows(conn, sql: str, params=()) -> list[tuple]:
    with db.transaction(conn) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def likes_of(conn, name: str) -> set[str]:
    return {
        track
        for (track,) in rows(
            conn,
            "SELECT l.track_id FROM likes l JOIN people p USING (person_id) WHERE p.name = %s AND removed_at IS NULL",
            (name,),
        )
    }


@pytest.fixture
def staggered(emulator_settings):
    """alice authorized 100 days before bob, both synced once, features from ReccoBeats then the catalog."""
    emulator, path = emulator_settings.emulator, emulator_settings.config
    path.write_text(path.read_text() + SOURCES)
    settings, conn = load_settings(), emulator_settings.conn
    authorize(settings, conn, "alice", refresh_token=emulator.refresh_token("alice"))
    emulator.advance_clock(days=100)
    authorize(settings, conn, "bob", refresh_token=emulator.refresh_token("bob"))  # bob's lifetime starts now
    sync.run(settings, conn)
    emulator.clear_requests()
    return dataclasses.replace(emulator_settings, settings=settings)


def test_an_expired_token_stops_only_its_person_until_they_authorize_again(staggered):
    conn, emulator = staggered.conn, staggered.emulator
    bobs_new = [emulator.add_like("bob") for _ in range(3)]
    alices_new = [emulator.add_like("alice") for _ in range(2)]
    emulator.advance_clock(days=83)  # alice: 183 days since she authorized; bob: 83

    line = one_line_error(run_cli("sync"), AuthorizationError.exit_code)
    assert "alice" in line and "Refresh token expired" in line
    assert "python -m taskcode authorize --user alice" in line and "bob" not in line
    assert set(bobs_new) <= likes_of(conn, "bob") and not set(alices_new) & likes_of(conn, "alice")
    sources = dict(rows(conn, "SELECT track_id, source FROM audio_features WHERE track_id = ANY(%s)", (bobs_new,)))
    assert sources == {t: "reccobeats" for t in bobs_new if "reccobeats" in emulator.library.tracks[t]["known_by"]}
    assert sources  # bob's new songs got features, alice's failure notwithstanding
    # Spotify says not to retry an invalid_grant: the token is gone, and alice shows as needing authorize.
    assert rows(conn, "SELECT 1 FROM spotify_tokens t JOIN people p USING (person_id) WHERE p.name = 'alice'") == []
    report = json.loads(run_cli("status", "--json").stdout)["users"]
    assert report["alice"]["needs_authorize"] is True and report["bob"]["needs_authorize"] is False
    again = one_line_error(run_cli("sync", "--user", "alice"), AuthorizationError.exit_code)
    assert "alice needs to authorize Spotify again; run: python -m taskcode authorize --user alice" in again
    assert not [r for r in emulator.requests("token") if r["person"] == "alice" and r["status"] == 200]

    refreshed = run_cli("authorize", "--user", "alice", "--refresh-token", emulator.refresh_token("alice"))
    assert refreshed.returncode == 0, refreshed.stderr
    emulator.clear_requests()
    result = run_cli("sync")
    assert result.returncode == 0, result.stderr
    assert set(alices_new) <= likes_of(conn, "alice")
    # The minimum: one page of liked songs each, no token call (both access tokens are fresh), one feature call.
    assert sorted(r["person"] for r in emulator.requests("tracks")) == ["alice", "bob"]
    assert emulator.requests("token") == [] and emulator.requests("me") == []
    assert len(emulator.requests("reccobeats")) == 1 and emulator.requests("audio_features") == []


def test_the_token_endpoint_is_asked_once_about_a_dead_token(staggered):
    settings, conn, emulator = staggered.settings, staggered.conn, staggered.emulator
    emulator.advance_clock(days=83)
    with pytest.raises(AuthorizationError, match="sync failed for alice: .*authorize --user alice"):
        sync.run(settings, conn)
    summary = sync.run(settings, conn)  # the next night: alice waits for authorization, bob syncs
    assert summary.as_dict()["waiting_for_authorization"] == ["alice"]
    assert [r["status"] for r in emulator.requests("token") if r["person"] == "alice"] == [400]


@pytest.mark.parametrize(
    "days_ago, expires_in, warned",
    [(100, 82, False), (167, 15, False), (170, 12, True), (183, -1, True)],
)
def test_status_warns_two_weeks_before_a_token_expires(authorized, days_ago, expires_in, warned):
    settings, conn = authorized.settings, authorized.conn
    with db.transaction(conn) as cur:
        cur.execute(
            "UPDATE people SET authorized_at = now() - make_interval(days => %s) WHERE name = 'alice'", (days_ago,)
        )
    report = status(conn, settings)
    alice = report["users"]["alice"]
    assert set(alice) >= {"authorized_at", "token_expires_at", "needs_authorize"}
    assert alice["needs_authorize"] is (expires_in < 0)
    expires, authorized_at = (datetime.fromisoformat(alice[k]) for k in ("token_expires_at", "authorized_at"))
    assert (expires - authorized_at).days == 182 == settings.spotify.refresh_token_lifetime_days
    text = format_status(report)
    command = "run: python -m taskcode authorize --user alice"
    assert (command in text) is warned and "authorize --user bob" not in text
    if warned and expires_in >= 0:
        assert f"alice's Spotify authorization expires on {expires:%Y-%m-%d} (in {expires_in - 1} days)" in text
    if expires_in < 0:
        assert f"alice's Spotify authorization expired on {expires:%Y-%m-%d}; {command}" in text

    cli = json.loads(run_cli("status", "--json").stdout)["users"]["alice"]
    assert cli == {**alice, "last_sync": cli["last_sync"]}
    assert (command in run_cli("status").stdout) is warned


def test_status_of_people_authorized_before_the_date_was_kept(authorized):
    settings, conn = authorized.settings, authorized.conn
    with db.transaction(conn) as cur:
        cur.execute("UPDATE people SET authorized_at = NULL")  # as migration 008 leaves earlier people
    report = status(conn, settings)
    assert {
        name: (u["authorized_at"], u["token_expires_at"], u["needs_authorize"]) for name, u in report["users"].items()
    } == {
        "alice": (None, None, False),
        "bob": (None, None, False),
    }
    assert "authorization expires unknown" in format_status(report) and "warning" not in format_status(report)


def test_the_lifetime_is_a_setting(authorized):
    settings, conn = authorized.settings, authorized.conn
    shorter = dataclasses.replace(
        settings, spotify=dataclasses.replace(settings.spotify, refresh_token_lifetime_days=10)
    )
    assert "alice's Spotify authorization expires on" in format_status(status(conn, shorter))
    assert "in 9 days" in format_status(status(conn, shorter)) and "warning" not in format_status(status(conn))


# -- the five-people limit of a development-mode app -------------------------------------


def test_a_sixth_person_of_one_app_is_refused_and_syncs_with_an_own_app(database_url, write_config, tmp_path):
    library = generate(people=6, tracks=40, seed=11)
    names = [p.name for p in library.people]
    with Emulator(library) as emu:
        env = {**emu.env(), "DATABASE_URL": database_url, "TASKCODE_CONFIG": str(write_config(SOURCES))}
        for name in names[:5]:
            result = run_cli("authorize", "--user", name, "--refresh-token", emu.refresh_token(name), env=env)
            assert result.returncode == 0, result.stderr
        sixth = names[5]
        refused = run_cli("authorize", "--user", sixth, "--refresh-token", emu.refresh_token(sixth), env=env)
        line = one_line_error(refused, AuthorizationError.exit_code)
        assert "five-people limit" in line and "--client-id" in line and f"--user {sixth}" in line
        assert sixth not in json.loads(run_cli("status", "--json", env=env).stdout)["users"]  # nothing stored

        emu.add_client("own-app", "own-secret")
        token = emu.refresh_token(sixth, client_id="own-app")
        args = ("authorize", "--user", sixth, "--refresh-token", token, "--client-id", "own-app")
        own = run_cli(*args, "--client-secret", "own-secret", env=env)
        assert own.returncode == 0, own.stderr
        synced = run_cli("sync", env=env)
        assert synced.returncode == 0, synced.stderr
        users = json.loads(run_cli("status", "--json", env=env).stdout)["users"]
        assert users[sixth]["likes"] == len(library.likes_of(sixth)) > 0
        assert all(users[name]["likes"] == len(library.likes_of(name)) for name in names)
