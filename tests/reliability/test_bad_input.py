"""Bad input from every side: Spotify's quirks, broken answers, odd libraries, bad config values.

Each case runs the real command line against the emulator over HTTP. What
must hold: the run ends as documented (exit 0, or one `error:` line and the
documented exit code, never a traceback), what could be stored is stored,
and running again changes nothing it should not.
"""

from __future__ import annotations

import pytest

from emulator import Emulator, generate
from taskcode import sync as sync_module
from tests.conftest import run_cli
from tests.reliability.conftest import (
    CONFIG,
    Command,
    assert_sync_consistent,
    authorize_everyone,
    cli_env,
    one_line_error,
    rows,
    snapshot,
    wait_for_calls,
    wait_until,
)

pytestmark = pytest.mark.slow


def stored_likes(url: str, name: str) -> dict:
    return dict(
        rows(
            url,
            """SELECT l.track_id, l.added_at FROM likes l JOIN people p USING (person_id)
                              WHERE p.name = %s AND l.removed_at IS NULL""",
            (name,),
        )
    )


def test_every_quirk_and_broken_answer_at_once_then_a_rerun_changes_nothing(database_url, catalog_config):
    library = generate(people=2, tracks=60, seed=5, unknown_features=0.1)  # some songs no source knows
    config = catalog_config(library)
    with Emulator(library) as emulator:
        env = cli_env(emulator, database_url, config)
        # /me and the token endpoint answer badly while people authorize (within one call's 6 attempts).
        emulator.reset_connections("token")
        emulator.malformed("token")
        emulator.fail("me", status=500, html=True)
        for person in library.people:
            result = run_cli(
                "authorize", "--user", person.name, "--refresh-token", emulator.refresh_token(person.name), env=env
            )
            assert result.returncode == 0, result.stderr

        # Odd items in both libraries (as real liked-songs lists hold them), and broken answers from every service.
        odd = {
            name: {
                kind: emulator.add_quirk(name, kind)
                for kind in ("null_track", "local_file", "episode", "duplicate", "missing_album", "non_ascii")
            }
            for name in ("alice", "bob")
        }
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
            assert (
                f"{name}: 62 new, 0 removed, 4 page(s); skipped 1 duplicate, 1 local_file, 1 not_a_track, "
                f"1 null_track; 1 stored without some fields"
            ) in result.stdout
        for endpoint in ("token", "tracks", "reccobeats"):
            statuses = [r["status"] for r in emulator.requests(endpoint)]
            assert statuses[:2] == [0, 500] and 200 in statuses, (endpoint, statuses)

        for name in ("alice", "bob"):
            assert stored_likes(database_url, name).keys() == {like.track_id for like in library.likes_of(name)}
            [(track_name, album)] = rows(
                database_url, "SELECT name, album_name FROM tracks WHERE track_id = %s", (odd[name]["non_ascii"],)
            )
            assert track_name.startswith("Smörgåsbord för Zoë, 東京") and album is not None
            assert rows(
                database_url, "SELECT album_id, artists FROM tracks WHERE track_id = %s", (odd[name]["missing_album"],)
            ) == [(None, [])]
        assert_sync_consistent(database_url, library)
        # Tracks no source knows are stored without features and remembered as misses.
        unknown = {t for t in library.owners() if not library.tracks[t]["known_by"]}
        assert unknown and {t for (t,) in rows(database_url, "SELECT track_id FROM feature_misses")} == unknown
        assert {t for (t,) in rows(database_url, "SELECT track_id FROM audio_features")} == (
            set(library.owners()) - unknown
        )

        before = snapshot(database_url)
        emulator.clear_requests()
        again = run_cli("sync", env=env)
        assert again.returncode == 0, again.stderr
        assert "alice: 0 new, 0 removed, 1 page(s)" in again.stdout
        assert snapshot(database_url) == before


def test_a_like_removed_while_paging_costs_no_other_like(database_url, config, tmp_path):
    """`total` can change while paging (Spotify documents no snapshot): a song un-liked on page 1 shifts the
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
            sync = Command(tmp_path, "sync", "--user", "alice", "--no-features", *(["--full"] if full else []), env=env)
            wait_for_calls(emulator, ("tracks",), 1, sync)  # page 1 answered; page 2 not answered yet
            gone = new.pop()  # the newest like, on page 1
            emulator.remove_like("alice", gone)
            result = sync.finish()
            assert result.returncode == 0, result.stderr
            emulator.latency("tracks", 0)

            liked = {like.track_id for like in library.likes_of("alice")}
            current = stored_likes(database_url, "alice").keys()
            removed = {
                t
                for (t,) in rows(
                    database_url,
                    """
                SELECT l.track_id FROM likes l JOIN people p USING (person_id)
                 WHERE p.name = 'alice' AND l.removed_at IS NOT NULL""",
                )
            }
            assert not liked - current, f"lost {len(liked - current)} like(s) still on Spotify (full={full})"
            assert current - liked <= {gone}  # at most the song un-liked during this very run
            assert not removed & liked, "a full sync marked a like as removed that is still on Spotify"


def test_a_full_sync_whose_list_never_settles_removes_nothing_and_is_not_called_full(database_url, config, tmp_path):
    """Each pass from the top sees the list change under it: no removal can be trusted, and
    `last_full_sync_at` must not claim a full sync happened; the next, settled one does both."""
    library = generate(people=2, tracks=120, seed=5)
    alice = [like.track_id for like in library.likes_of("alice")]
    with Emulator(library) as emulator:
        env = cli_env(emulator, database_url, config)
        authorize_everyone(emulator, database_url, config)
        assert run_cli("sync", "--no-features", env=env).returncode == 0
        emulator.latency("tracks", 0.3)
        emulator.clear_requests()
        full = Command(tmp_path, "sync", "--user", "alice", "--no-features", "--full", env=env)
        for done in range(sync_module.MAX_PASSES):  # page 1 of each pass answered, page 2 not yet
            wait_until(
                lambda done=done: (
                    full.running()
                    and sum(r["query"].get("offset", "0") == "0" for r in emulator.requests("tracks")) > done
                ),
                f"page 1 of pass {done + 1}",
            )
            emulator.remove_like("alice", alice[done])
        result = full.finish()
        assert result.returncode == 0, result.stderr
        assert "kept changing while paging" in result.stderr

        def state():
            return rows(
                database_url,
                """
                SELECT s.last_full_sync_at IS NOT NULL,
                       (SELECT count(*) FROM likes l WHERE l.person_id = p.person_id AND l.removed_at IS NOT NULL)
                  FROM people p JOIN sync_state s USING (person_id) WHERE p.name = 'alice'""",
            )

        assert state() == [(False, 0)]
        emulator.latency("tracks", 0)
        assert run_cli("sync", "--user", "alice", "--no-features", "--full", env=env).returncode == 0
        assert state() == [(True, sync_module.MAX_PASSES)]


def test_an_empty_library_then_a_person_with_one_song(database_url, config):
    library = generate(people=2, tracks=40, seed=8)
    owners = library.owners()
    liked = {p.name: library.likes_of(p.name) for p in library.people}
    with Emulator(library) as emulator:
        for name, likes in liked.items():
            for like in likes:
                emulator.remove_like(name, like.track_id)
        env = cli_env(emulator, database_url, config)
        authorize_everyone(emulator, database_url, config)

        result = run_cli("sync", env=env)
        assert result.returncode == 0, result.stderr
        assert "alice: 0 new, 0 removed, 1 page(s)" in result.stdout and "bob: 0 new" in result.stdout
        assert "training needs songs liked by only one person for at least 2 people; found nobody" in (
            one_line_error(run_cli("train", env=env), 6)
        )
        assert "no champion model yet" in one_line_error(run_cli("embed", env=env), 6)

        for like in liked["alice"]:
            emulator.add_like("alice", like.track_id, like.added_at)
        own = next(
            like
            for like in liked["bob"]
            if owners[like.track_id] == {"bob"} and library.tracks[like.track_id]["known_by"]
        )
        emulator.add_like("bob", own.track_id, own.added_at)
        result = run_cli("sync", env=env)
        assert result.returncode == 0, result.stderr
        assert "alice: 40 new" in result.stdout and "bob: 1 new" in result.stdout
        error = one_line_error(run_cli("train", env=env), 6)
        assert "bob has 1 songs with audio features that only they like; training needs 10" in error
    assert_sync_consistent(database_url, emulator.library)
    assert rows(database_url, "SELECT count(*) FROM model_versions") == [(0,)]


@pytest.mark.parametrize(
    "command, config_text, env, expected",
    [
        (["sync"], "model:\n  activation: rleu\n", {}, "'model.activation' is 'rleu'; allowed: relu, tanh"),
        (["train"], "spotify:\n  page_size: 51\n", {}, "'spotify.page_size' must be >= 1 and <= 50"),
        (["embed"], "map:\n  n_iter: 10\n", {}, "'map.n_iter' must be >= 50"),
        (["status"], "features:\n  sources: [spotify, lastfm]\n", {}, "'features.sources[1]' is 'lastfm'"),
        (["predict", "4iV5W9uYEdYUVa79Axb7Rh"], "model: [\n", {}, "is not valid YAML at line 2"),
        (
            ["authorize", "--user", "carol", "--refresh-token", "x"],
            "",
            {"LOG_LEVEL": "LOUD"},
            "LOG_LEVEL (or logging.level) is 'LOUD'; allowed:",
        ),
        (
            ["sync"],
            "",
            {"SPOTIFY_API_BASE": "ftp://example.org/v1"},
            "SPOTIFY_API_BASE (or 'spotify.api_base') must be",
        ),
        (["db", "migrate"], "", {"DATABASE_URL": "mysql://someone:hunter2@db/taste"}, "must start with postgresql://"),
        (["sync"], "", {"TASKCODE_CONFIG": "/nonexistent/config.yml"}, "TASKCODE_CONFIG points to /nonexistent"),
    ],
)
def test_a_bad_config_value_stops_a_command_with_one_line(
    database_url, write_config, command, config_text, env, expected
):
    config = write_config(config_text)
    result = run_cli(*command, env={"DATABASE_URL": database_url, "TASKCODE_CONFIG": str(config), **env})
    error = one_line_error(result, 2)
    assert error.startswith("error: config: ") and expected in error
    assert "hunter2" not in result.stderr
    assert result.stdout == ""


def test_a_missing_catalog_file_is_a_config_error_naming_the_key(database_url, config, tmp_path):
    """The csv source is needed for songs Spotify and ReccoBeats lack; its file is not there."""
    library = generate(people=2, tracks=40, seed=8)
    bad = tmp_path / "bad.yml"
    bad.write_text(CONFIG + "paths:\n  catalog_csv: catalogs/tracks.csv\n")
    with Emulator(library) as emulator:
        authorize_everyone(emulator, database_url, config)
        result = run_cli("sync", env=cli_env(emulator, database_url, bad))
    error = one_line_error(result, 2)
    assert "catalogs/tracks.csv does not exist; fix paths.catalog_csv" in error
    assert_sync_consistent(database_url, library)  # the likes were kept


def test_a_scope_change_names_the_people_who_must_authorize_again(database_url, config, tmp_path):
    """A new scope needs an interactive login: a headless sync says who must authorize, and stores nothing."""
    library = generate(people=2, tracks=40, seed=8)
    wider = tmp_path / "wider.yml"
    wider.write_text(CONFIG.replace("spotify:\n", "spotify:\n  scope: user-library-read user-top-read\n"))
    with Emulator(library) as emulator:
        authorize_everyone(emulator, database_url, config)
        result = run_cli("sync", env=cli_env(emulator, database_url, wider))
    error = one_line_error(result, 5)
    assert "sync failed for alice (and 1 more: bob)" in error and "authorize --user alice" in error
    assert rows(database_url, "SELECT count(*) FROM likes") == [(0,)]
