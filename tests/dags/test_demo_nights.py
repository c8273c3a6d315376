"""`make demo` twice (scripts/demo.py, as the README runs it): two nights of the real DAG,
each person's playlist and the shared one in the emulator's Spotify, once each, with the
picks the database stored, and the Discover page showing the household's picks."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from emulator import Emulator, Library
from taskcode import db, registry
from taskcode.config import load_settings
from taskcode.playlists import own_songs, shared_songs
from tests.conftest import PROJECT_ROOT
from tests.dashboard.conftest import APP

pytestmark = pytest.mark.slow


def _demo(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/demo.py"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=1800
    )


def test_two_demo_nights_keep_one_playlist_per_person_and_one_shared(database_url, tmp_path, monkeypatch):
    # The test's own database instead of the embedded one: the demo is the same otherwise.
    env = {**os.environ, "TASKCODE_DATA_DIR": str(tmp_path), "DATABASE_URL": database_url}
    nights = [_demo(env) for _ in range(2)]
    for night in nights:
        assert night.returncode == 0, night.stdout[-3000:] + night.stderr[-3000:]
        assert "demo: playlists in the emulator's Spotify: alice 2, bob 1" in night.stdout
    first = nights[0].stdout
    assert "  decision: promoted: F1 " in first and "95% interval" in first and "probability" in first
    assert "artists add: keras MLP " in first
    assert "the next night: each person liked" in nights[1].stdout

    view = Emulator(Library.load(tmp_path / "demo" / "library.json")).playlists_of()
    names = {person: [p["name"] for p in playlists] for person, playlists in view.items()}
    assert names == {
        "alice": ["Whose song is it? — for alice", "Whose song is it? — together"],
        "bob": ["Whose song is it? — for bob"],
    }
    settings = load_settings(tmp_path / "demo" / "config.yml", env={"DATABASE_URL": database_url})
    with db.connection(settings) as conn:
        version = registry.champion(conn).version
        own = {name: own_songs(conn, version, name, 30) for name in ("alice", "bob")}
        shared = shared_songs(conn, version, 30)
    assert view["alice"][0]["track_ids"] == own["alice"] and view["bob"][0]["track_ids"] == own["bob"]
    assert view["alice"][1]["track_ids"] == shared
    for playlist in view["alice"] + view["bob"]:
        assert len(set(playlist["track_ids"])) == len(playlist["track_ids"]) >= 25  # no song twice

    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("DATABASE_URL", database_url)
    page = AppTest.from_file(str(APP), default_timeout=60).run().switch_page("page_discover.py").run()
    assert not page.exception
    libraries = {v for df in page.dataframe if "library" in df.value.columns for v in df.value["library"]}
    assert libraries == {"from alice's library", "from bob's library"}
