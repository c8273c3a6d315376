"""Bad input from every side: Spotify's quirks, broken answers, odd libraries, bad config values.

Each case runs the real command line against the emulator over HTTP. What
must hold: the run ends as documented (exit 0, or one `error:` line and the
documented exit code, never a traceback), what could be stored is stored,
and running again changes nothing it should not.
"""

from __future__ import annotations

import pytest

from taskcode.emulator import Emulator
from taskcode.library import generate
from tests.conftest import run_cli
from tests.reliability.conftest import (
    CONFIG, Command, assert_sync_consistent, authorize_everyone, cli_env, one_line_error, rows, snapshot,
    wait_for_calls,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def catalog_config(tmp_path):
    """The suite's config with a catalog file, so that every feature source exists."""

    def write(library):
        catalog = tmp_path / "catalog.csv"
        library.write_catalog(catalog)
        path = tmp_path / "config.yml"
        path.write_text(CONFIG + f"paths:\n  catalog_csv: {catalog}\n")
        return path

    return write


def stored_likes(url: str, name: str) -> dict:
    return dict(rows(url, """SELECT l.track_id, l.added_at FROM likes l JOIN people p USING (person_id)
                              WHERE p.name = %s AND l.removed_at IS NULL""", (name,)))


def test_every_quirk_and_broken_answer_at_once_then_a_rerun_changes_nothing(database_url, catalog_config):
    library = generate(people=2, tracks=60, seed=5)
    config = catalog_config(library)
    with Emulator(library) as emulator:
        env = cli_env(emulator, database_url, config)
        # /me and the token endpoint answer badly while people authorize (within one call's 6 attempts).
        emulator.reset_connections("token")
        emulator.malformed("token")
        emulator.fail("me", status=500, html=True)
        for person in library.people:
            result = run_cli("authorize", "--user", person.name, "--refresh-token",
                             emulator.refresh_token(person.name), env=env)
            assert result.returncode == 0, result.stderr

        # Odd items in both libraries (spotify-api.md), and broken answers from every service.
        odd = {name: {kind: emulator.add_quirk(name, kind) for kind in
                      ("null_track", "local_file", "episode", "duplicate", "missing_album", "non_ascii")}
               for name in ("alice", "bob")}
        emulator.deprecate_audio_features()  # 403 with no message, as for apps made after 2024-11-27
        emulator.expire_access_tokens()  # every person's token is refreshed during the sync
        emulator.clear_requests()
        for endpoint in ("token", "tracks", "audio_features", "reccobeats"):
            emulator.reset_connections(endpoint)
            emulator.fail(endpoint, status=500, html=True)
            emulator.malformed(endpoint)
        result = run_cli("sync", env=env)
        assert result.returncode == 0, result.stderr
        for name in ("alice", "bob"):
            assert (f"{name}: 62 new, 0 removed, 4 page(s); skipped 1 duplicate, 1 local_file, 1 not_a_track, "
                    f"1 null_track; 1 stored without some fields") in result.stdout
        for endpoint in ("token", "tracks", "reccobeats"):
            statuses = [r["status"] for r in emulator.requests(endpoint)]
            assert statuses[:2] == [0, 500] and 200 in statuses, (endpoint, statuses)

        for name in ("alice", "bob"):
            assert stored_likes(database_url, name).keys() == {like.track_id for like in library.likes_of(name)}
            [(track_name, album)] = rows(database_url, "SELECT name, album_name FROM tracks WHERE track_id = %s",
                                         (odd[name]["non_ascii"],))
            assert track_name.startswith("Smörgåsbord för Zoë, 東京") and album is not None
            assert rows(database_url, "SELECT album_id, artists FROM tracks WHERE track_id = %s",
                        (odd[name]["missing_album"],)) == [(None, [])]
        assert_sync_consistent(database_url, library)
        # Tracks no source knows are stored without features and remembered as misses.
        unknown = {t for t in library.owners() if not library.tracks[t]["known_by"]}
        assert unknown and {t for (t,) in rows(database_url, "SELECT track_id FROM feature_misses")} == unknown
        assert {t for (t,) in rows(database_url, "SELECT track_id FROM audio_features")} == (
            set(library.owners()) - unknown)

        before = snapshot(database_url)
        emulator.clear_requests()
        again = run_cli("sync", env=env)
        assert again.returncode == 0, again.stderr
        assert "alice: 0 new, 0 removed, 1 page(s)" in again.stdout
        assert snapshot(database_url) == before


def test_a_like_removed_while_paging_costs_no_other_like(database_url, config, tmp_path):
    """`total` can change while paging (spotify-api.md): a song un-liked on page 1 shifts the
    songs of page 2 up by one, and the song that slid onto page 1 must not be lost."""
    library = generate(people=2, tracks=30, seed=3)
    with Emulator(library) as emulator:
        env = cli_env(emulator, database_url, config)
        authorize_everyone(emulator, database_url, config)
        assert run_cli("sync", "--no-features", env=env).returncode == 0
        new = [emulator.add_like("alice", added_at=f"2026-11-03T00:{i:02d}:00Z") for i in range(50)]

        for full in (False, True):
            emulator.latency("tracks", 0.3)
            emulator.clear_requests()
            sync = Command(tmp_path, "sync", "--user", "alice", "--no-features", *(["--full"] if full else []),
                           env=env)
            wait_for_calls(emulator, ("tracks",), 1, sync)  # page 1 answered; page 2 not answered yet
            gone = new.pop()  # the newest like, on page 1
            emulator.remove_like("alice", gone)
            result = sync.finish()
            assert result.returncode == 0, result.stderr
            emulator.latency("tracks", 0)

            liked = {like.track_id for like in library.likes_of("alice")}
            current = stored_likes(database_url, "alice").keys()
            removed = {t for (t,) in rows(database_url, """
                SELECT l.track_id FROM likes l JOIN people p USING (person_id)
                 WHERE p.name = 'alice' AND l.removed_at IS NOT NULL""")}
            assert not liked - current, f"lost {len(liked - current)} like(s) still on Spotify (full={full})"
            assert current - liked <= {gone}  # at most the song un-liked during this very run
            assert not removed & liked, "a full sync marked a like as removed that is still on Spotify"
