"""Playlists back in Spotify, against the emulator: rewritten in place, one removed from the library made again once,
a missing scope named."""

from __future__ import annotations

import logging

import pytest

from emulator import Emulator
from taskcode import db, registry
from taskcode.authorize import authorize
from taskcode.cli import main
from taskcode.config import load_settings
from taskcode.playlists import own_songs, write_playlists
from taskcode.predict import store_discoveries
from tests.integration import test_model
from tests.integration.test_model import QUICK

champion_db = test_model.champion_db  # a champion trained on a small library with a catalog

pytestmark = pytest.mark.slow
WITHOUT_PLAYLISTS = "user-library-read"


@pytest.fixture
def spotify(conn, champion_db, write_config, monkeypatch):
    """The champion's household served by the emulator, both authorized, alice and bob opted in (no shared)."""
    _, lib = champion_db
    with Emulator(lib) as emu:
        for name, value in emu.env().items():
            monkeypatch.setenv(name, value)
        config = write_config(
            QUICK + f"paths:\n  catalog_csv: {champion_db[0].paths.catalog_csv}\nfeatures:\n  sources: [csv]\n"
            "playlists:\n  people: [alice, bob]\n  songs: 30\n"
        )
        settings = load_settings(config)
        store_discoveries(settings, conn)
        for person in lib.people:
            authorize(settings, conn, person.name, refresh_token=emu.refresh_token(person.name))
        yield settings, emu, config


def _stored_ids(conn) -> dict[str, str]:
    with db.transaction(conn) as cur:
        cur.execute("SELECT p.name, l.playlist_id FROM playlists l JOIN people p USING (person_id) WHERE kind = 'own'")
        return dict(cur.fetchall())


def _expected(conn, name, songs=30):
    return own_songs(conn, registry.champion(conn).version, name, songs)


def _writes_to(emu, playlist_id: str) -> list[str]:
    return [r["method"] for r in emu.requests() if r["path"] == f"/v1/playlists/{playlist_id}/items"]


def test_each_night_rewrites_the_same_playlist_and_one_removed_from_the_library_is_made_again_once(
    conn, spotify, caplog
):
    settings, emu, _ = spotify
    first = write_playlists(settings, conn)
    assert first["written"] == {"alice": 30, "bob": 30} and first["recreated"] == [] and not first["needs_authorize"]
    ids = _stored_ids(conn)
    view = emu.playlists_of()
    for name in ("alice", "bob"):
        [playlist] = view[name]
        assert playlist["id"] == ids[name] and playlist["name"] == f"Whose song is it? — for {name}"
        assert playlist["public"] is False
        assert playlist["track_ids"] == _expected(conn, name)
    assert len(emu.requests("create_playlist")) == 2  # one create each, never again
    assert emu.requests("library_contains") == []  # nothing stored yet: nothing to ask

    emu.clear_requests()
    again = write_playlists(settings, conn)
    assert again["recreated"] == [] and _stored_ids(conn) == ids
    assert emu.requests("create_playlist") == []  # the stored playlists were rewritten in place
    assert sorted(r["person"] for r in emu.requests("library_contains")) == ["alice", "bob"]  # one check each
    assert [len(emu.playlists_of()[name]) for name in ("alice", "bob")] == [1, 1]

    # In Spotify a deleted playlist only leaves bob's library: it still exists and still takes writes.
    assert emu.delete_playlist(ids["bob"])
    emu.clear_requests()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="taskcode.playlists"):
        remade = write_playlists(settings, conn)
    assert remade["recreated"] == ["bob"] and remade["written"] == {"alice": 30, "bob": 30}
    told = [r.getMessage() for r in caplog.records if r.name == "taskcode.playlists" and r.levelno == logging.INFO]
    assert told == [f"bob removed the playlist {ids['bob']} from their Spotify library; making a new one"]
    new_ids = _stored_ids(conn)
    assert new_ids["alice"] == ids["alice"] and new_ids["bob"] != ids["bob"]
    [bobs] = emu.playlists_of("bob")["bob"]
    assert bobs["id"] == new_ids["bob"] and bobs["track_ids"] == _expected(conn, "bob")
    assert [(r["method"], r["status"]) for r in emu.requests("create_playlist")] == [("POST", 201)]
    assert _writes_to(emu, ids["bob"]) == []  # the one bob threw away is left alone
    assert emu.playlist(ids["bob"])["in_library"] is False

    emu.clear_requests()
    assert write_playlists(settings, conn)["recreated"] == []  # made again once, then rewritten in place
    assert _stored_ids(conn) == new_ids and emu.requests("create_playlist") == []
    assert _writes_to(emu, new_ids["bob"]) == ["PUT"] and _writes_to(emu, ids["bob"]) == []
    assert [p["id"] for p in emu.playlists_of("bob")["bob"]] == [new_ids["bob"]]


def test_a_person_without_the_playlist_scope_is_told_to_authorize_while_the_other_is_written(conn, spotify, capsys):
    settings, emu, config = spotify
    token = emu.authorize_again("bob", scope=WITHOUT_PLAYLISTS)  # bob logged in before playlists existed
    authorize(settings, conn, "bob", refresh_token=token)

    code = main(["--config", str(config), "playlists"])
    out, err = capsys.readouterr()
    assert code == 5
    assert err.strip().splitlines() == [
        "error: bob's Spotify authorization lacks the scope playlist-modify-private (playlists); "
        "run: python -m taskcode authorize --user bob"
    ]
    assert "alice: 30 songs written" in out
    assert emu.playlists_of()["alice"][0]["track_ids"] == _expected(conn, "alice")
    assert emu.playlists_of()["bob"] == []
    with db.transaction(conn) as cur:
        cur.execute("SELECT status, summary FROM runs WHERE kind = 'playlists' ORDER BY run_id DESC LIMIT 1")
        status, summary = cur.fetchone()
    assert status == "succeeded" and list(summary["needs_authorize"]) == ["bob"]
    assert summary["written"] == {"alice": 30}
    assert token not in out + err

    assert main(["--config", str(config), "playlists", "--user", "alice"]) == 0  # alice alone: nothing to tell
    assert "bob" not in capsys.readouterr().err
    assert main(["--config", str(config), "playlists", "--user", "carol"]) == 2  # not in the config
    assert capsys.readouterr().err.startswith("error: playlists: 'carol' has no playlist in the config")


def test_more_than_100_songs_are_replaced_100_at_once_then_appended(conn, spotify, write_config):
    settings, emu, config = spotify
    store_discoveries(settings, conn, top=90)  # household and catalog: more than 100 picks each
    text = config.read_text().replace("songs: 30", "songs: 150")
    settings = load_settings(write_config(text))
    emu.clear_requests()
    summary = write_playlists(settings, conn, "alice")
    expected = _expected(conn, "alice", 150)
    assert len(expected) > 100 and summary["written"] == {"alice": len(expected)}
    calls = [(r["endpoint"], r["status"]) for r in emu.requests() if r["path"].endswith("/items")]
    assert calls == [("replace_playlist_items", 200), ("add_playlist_items", 201)]
    assert emu.playlists_of("alice")["alice"][0]["track_ids"] == expected
    assert emu.playlists_of("bob")["bob"] == []  # --user alice: her account only
