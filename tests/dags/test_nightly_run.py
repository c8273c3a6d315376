"""The nightly DAG end to end through `dag.test()`: real Airflow, PostgreSQL and the emulator."""

from __future__ import annotations

import pytest

from taskcode import db, registry
from taskcode.playlists import own_songs, shared_songs
from taskcode.status import status

pytestmark = pytest.mark.slow


def run(conf=None):
    from scripts.airflow_dev import test_run

    state, tasks = test_run("taste_nightly", conf)
    return state, {name: (task_state, value) for name, task_state, value in tasks}


def current_status(settings):
    with db.connection(settings) as conn:
        return status(conn)


def test_first_night_then_a_quiet_night_then_a_forced_retrain(deployment):
    settings, emulator = deployment.settings, deployment.emulator

    state, tasks = run()
    assert state == "success", tasks
    report = current_status(settings)
    assert {name: info["likes"] for name, info in report["users"].items()} == {"alice": 120, "bob": 120}
    assert report["champion"] is not None and report["map"]["version"] == report["champion"]["version"]
    assert report["map"]["points"] == report["tracks_with_features"] > 0
    assert tasks["train"][0] == "success" and tasks["evaluate_and_promote"][1]["promoted"]
    assert tasks["discover"][1]["people"] == {"alice": 25, "bob": 25}
    assert {tasks["sync[alice]"][1]["new_likes"], tasks["sync[bob]"][1]["new_likes"]} == {120}

    emulator.clear_requests()
    state, tasks = run()  # nothing new tonight
    assert state == "success", tasks
    assert tasks["train"] == ("success", None)
    assert tasks["evaluate_and_promote"][0] == "skipped"
    assert tasks["embed"][0] == "success" and tasks["embed"][1]["placed"] == 0
    assert len(emulator.requests("tracks")) == 2 and emulator.requests("audio_features") == []
    assert current_status(settings)["champion"] == report["champion"]

    state, tasks = run({"force_retrain": True, "people": ["alice"]})
    assert state == "success", tasks
    assert [name for name in tasks if name.startswith("sync[")] == ["sync[alice]"]
    assert isinstance(tasks["train"][1], int) and tasks["train"][1] > report["champion"]["version"]
    assert tasks["evaluate_and_promote"][0] == "success"


def test_new_likes_are_synced_and_placed_into_the_map(deployment):
    settings, emulator = deployment.settings, deployment.emulator
    assert run()[0] == "success"
    before = current_status(settings)
    new = [emulator.add_like("alice") for _ in range(3)]
    state, tasks = run()
    assert state == "success", tasks
    after = current_status(settings)
    assert after["users"]["alice"]["likes"] == before["users"]["alice"]["likes"] + 3
    assert tasks["sync[alice]"][1]["new_likes"] == 3 and tasks["sync[bob]"][1]["new_likes"] == 0
    assert tasks["train"][0] == "success"
    known = sum(1 for t in new if emulator.library.tracks[t]["known_by"])
    assert after["map"]["points"] == before["map"]["points"] + known


def test_a_revoked_person_fails_alone_and_the_night_goes_on(deployment):
    settings, emulator = deployment.settings, deployment.emulator
    emulator.revoke("bob")
    emulator.expire_access_tokens()
    state, tasks = run()
    assert tasks["sync[bob]"][0] == "failed"
    assert tasks["sync[alice]"][0] == "success"
    assert tasks["features"][0] == "success"
    assert current_status(settings)["users"]["alice"]["likes"] == 120


def test_the_full_rebuild_resyncs_retrains_and_draws_a_fresh_map(deployment):
    settings, emulator, library = deployment
    state, first = run()
    assert state == "success", first
    before = current_status(settings)
    gone = library.likes_of("bob")[7].track_id
    emulator.remove_like("bob", gone)
    emulator.clear_requests()

    state, tasks = run({"full_resync": True, "force_retrain": True, "fresh_map": True})
    assert state == "success", tasks
    assert tasks["sync[bob]"] == ("success", {**tasks["sync[bob]"][1], "removed": 1})
    assert tasks["sync[alice]"][1]["removed"] == 0 and tasks["sync[alice]"][1]["pages"] == 3  # 120 songs, 50 a page
    assert isinstance(tasks["train"][1], int) and tasks["train"][1] > before["champion"]["version"]
    assert tasks["evaluate_and_promote"][0] == "success"
    embedded = tasks["embed"][1]
    assert tasks["embed"][0] == "success" and embedded["fitted"] == embedded["points"] and embedded["placed"] == 0
    assert embedded["map_id"] != first["embed"][1]["map_id"]
    after = current_status(settings)
    assert after["users"]["bob"]["removed"] == 1 and after["users"]["bob"]["likes"] == 119
    assert tasks["discover"][0] == "success"


def test_songs_unliked_between_nights_are_marked_removed_by_the_next_nightly_run(deployment):
    settings, emulator, library = deployment
    assert run()[0] == "success"
    gone = [like.track_id for like in library.likes_of("alice")[10:13]]
    for track_id in gone:
        emulator.remove_like("alice", track_id)

    state, tasks = run()  # an ordinary night: no full_resync
    assert state == "success", tasks
    assert tasks["sync[alice]"][1]["removed"] == 3 and tasks["sync[bob]"][1]["removed"] == 0
    report = current_status(settings)["users"]
    assert (report["alice"]["likes"], report["alice"]["removed"]) == (117, 3)
    assert report["bob"]["removed"] == 0


PLAYLISTS = "playlists:\n  people: [alice, bob]\n  shared_owner: alice\n  songs: 30\n"


def test_two_nights_keep_one_playlist_per_person_and_one_shared(deployment):
    """As `make demo` opts in: each night rewrites the same playlists, never adds one."""
    settings, emulator = deployment.settings, deployment.emulator
    settings.config_path.write_text(settings.config_path.read_text() + PLAYLISTS)
    nights = []
    for _ in range(2):
        state, tasks = run()
        assert state == "success", tasks
        assert tasks["playlists"][0] == "success"
        nights.append(tasks["playlists"][1])
    assert [night["recreated"] for night in nights] == [[], []] and not nights[1]["needs_authorize"]
    assert nights[0]["written"] == nights[1]["written"]
    creates = emulator.requests("create_playlist")
    assert sorted(r["person"] for r in creates) == ["alice", "alice", "bob"]  # the first night only

    view = emulator.playlists_of()
    names = {person: [p["name"] for p in playlists] for person, playlists in view.items()}
    assert names == {
        "alice": ["Whose song is it? — for alice", "Whose song is it? — together"],
        "bob": ["Whose song is it? — for bob"],
    }
    with db.connection(settings) as conn:
        version = registry.champion(conn).version
        own = {name: own_songs(conn, version, name, 30) for name in ("alice", "bob")}
        shared = shared_songs(conn, version, 30)
    assert view["alice"][0]["track_ids"] == own["alice"] and view["bob"][0]["track_ids"] == own["bob"]
    assert view["alice"][1]["track_ids"] == shared and len(shared) == 30
    both = {track_id for track_id, who in deployment.library.owners().items() if len(who) >= 2}
    assert len(set(shared) & both) == min(len(both), 15)  # half the songs both like, half the model's closest
    assert nights[1]["written"] == {"alice": len(own["alice"]), "bob": len(own["bob"]), "shared (alice)": 30}
    for playlist in view["alice"] + view["bob"]:
        assert len(set(playlist["track_ids"])) == len(playlist["track_ids"]) >= 25  # no song twice
