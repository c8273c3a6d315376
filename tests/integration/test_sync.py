"""Sync against the emulator over real HTTP and a real PostgreSQL.

Every assertion about API cost reads the emulator's request log: what the
server saw, not what the client believes it did.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest

from taskcode import db, features, sync
from taskcode.authorize import authorize
from taskcode.errors import AuthorizationError, RetryLater, SpotifyError
from taskcode.status import status
from tests.integration.conftest import with_sources


def likes_in_db(conn, name, *, removed=False):
    with db.transaction(conn) as cur:
        cur.execute(
            """SELECT l.track_id, l.added_at FROM likes l JOIN people p USING (person_id)
                WHERE p.name = %s AND (l.removed_at IS NOT NULL) = %s""",
            (name, removed),
        )
        return {track_id: added_at for track_id, added_at in cur.fetchall()}


def library_likes(library, name):
    return {like.track_id: like.added_at for like in library.likes_of(name)}


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def calls(emulator, endpoint, status=None):
    return [r for r in emulator.requests(endpoint) if status is None or r["status"] == status]


# -- the first sync and the incremental ones ---------------------------------------


def test_first_sync_equals_the_library(synced, sample_library):
    conn = synced.conn
    for person in sample_library.people:
        stored = likes_in_db(conn, person.name)
        expected = library_likes(sample_library, person.name)
        assert {t: iso(a) for t, a in stored.items()} == expected
    report = status(conn)
    assert report["tracks"] == len(sample_library.owners())
    with_features = sum(1 for t in sample_library.owners() if sample_library.tracks[t]["known_by"])
    assert report["tracks_with_features"] == with_features
    with db.transaction(conn) as cur:
        cur.execute("SELECT count(*), count(DISTINCT person_id) FROM sync_state WHERE watermark_added_at IS NOT NULL")
        assert cur.fetchone() == (2, 2)


def test_nothing_new_costs_one_call_per_person_and_no_feature_call(synced):
    settings, conn, emulator = synced.settings, synced.conn, synced.emulator
    emulator.clear_requests()
    summary = sync.run(settings, conn)
    assert len(calls(emulator, "tracks")) == 2
    assert calls(emulator, "audio_features") == [] and calls(emulator, "reccobeats") == []
    assert all(p.new_likes == 0 for p in summary.people)


@pytest.mark.parametrize("k", [1, 49, 50, 120])
def test_k_new_likes_cost_ceil_k_plus_1_over_50_pages(synced, k):
    settings, conn, emulator = synced.settings, synced.conn, synced.emulator
    new_ids = [emulator.add_like("alice") for _ in range(k)]
    emulator.clear_requests()
    summary = sync.run(settings, conn, names=["alice"])
    assert len(calls(emulator, "tracks")) == math.ceil((k + 1) / 50)
    assert summary.people[0].new_likes == k
    assert set(new_ids) <= set(likes_in_db(conn, "alice"))
    feature_ids = [i for r in calls(emulator, "reccobeats") for i in r["query"]["ids"].split(",")]
    assert sorted(feature_ids) == sorted(new_ids)
    assert len(calls(emulator, "reccobeats")) == math.ceil(k / 40)


def test_likes_sharing_the_watermark_second_are_not_missed(synced, sample_library):
    settings, conn, emulator = synced.settings, synced.conn, synced.emulator
    newest = sample_library.likes_of("bob")[0].added_at
    tie = emulator.add_like("bob", added_at=newest)  # liked in the same second as the newest stored
    later = emulator.add_like("bob")
    sync.run(settings, conn, names=["bob"])
    stored = likes_in_db(conn, "bob")
    assert tie in stored and later in stored
    emulator.clear_requests()
    assert sync.run(settings, conn, names=["bob"]).people[0].new_likes == 0
    assert len(calls(emulator, "tracks")) == 1


def test_a_song_liked_by_both_gets_its_features_once(synced, sample_library):
    settings, conn, emulator = synced.settings, synced.conn, synced.emulator
    track = emulator.add_like("alice")
    emulator.add_like("bob", track_id=track)
    emulator.clear_requests()
    sync.run(settings, conn)
    asked = [i for r in calls(emulator, "reccobeats") for i in r["query"]["ids"].split(",")]
    assert asked == [track]


def test_first_sync_fetches_each_shared_track_once(synced, sample_library):
    asked = [i for r in calls(synced.emulator, "reccobeats") for i in r["query"]["ids"].split(",")]
    assert len(asked) == len(set(asked)) == len(sample_library.owners())


def test_full_sync_marks_removed_and_brings_relikes_back(synced, sample_library):
    settings, conn, emulator = synced.settings, synced.conn, synced.emulator
    gone = sample_library.likes_of("alice")[5].track_id
    emulator.remove_like("alice", gone)
    summary = sync.run(settings, conn, full=True)
    assert summary.people[0].removed == 1 and summary.people[1].removed == 0
    assert gone in likes_in_db(conn, "alice", removed=True)
    report = status(conn)["users"]["alice"]
    assert report == {
        "likes": len(sample_library.likes_of("alice")),
        "removed": 1,
        "last_sync": report["last_sync"],
        "authorized_at": report["authorized_at"],
        "token_expires_at": report["token_expires_at"],
        "needs_authorize": False,
    }
    emulator.add_like("alice", track_id=gone)  # liked again, newest now
    sync.run(settings, conn)
    assert gone in likes_in_db(conn, "alice") and gone not in likes_in_db(conn, "alice", removed=True)


def test_likes_removed_between_nights_are_found_by_the_next_incremental_sync(synced, sample_library):
    settings, conn, emulator = synced.settings, synced.conn, synced.emulator
    gone = [like.track_id for like in sample_library.likes_of("alice")[3:5]]
    for track_id in gone:
        emulator.remove_like("alice", track_id)
    new = emulator.add_like("alice")
    emulator.clear_requests()
    summary = sync.run(settings, conn)
    alice, bob = summary.people
    assert (alice.removed, alice.new_likes, bob.removed) == (2, 1, 0)
    assert set(gone) <= set(likes_in_db(conn, "alice", removed=True)) and new in likes_in_db(conn, "alice")
    held = len(sample_library.likes_of("alice"))  # the emulator's copy: already without the removed ones
    assert len(likes_in_db(conn, "alice")) == held
    # alice: her first page, then a full pass; bob: his first page only.
    assert len(calls(emulator, "tracks")) == 1 + math.ceil(held / 50) + 1
    with db.transaction(conn) as cur:
        cur.execute("SELECT p.name FROM sync_state JOIN people p USING (person_id) WHERE last_full_sync_at IS NOT NULL")
        assert [name for (name,) in cur.fetchall()] == ["alice"]

    emulator.clear_requests()
    summary = sync.run(settings, conn)  # the night after: nothing un-liked, no extra call
    assert len(calls(emulator, "tracks")) == 2 and all(p.removed == 0 for p in summary.people)


def test_items_never_stored_cost_no_full_pass(synced):
    settings, conn, emulator = synced.settings, synced.conn, synced.emulator
    emulator.add_quirk("alice", "local_file")
    sync.run(settings, conn, names=["alice"])
    emulator.clear_requests()
    summary = sync.run(settings, conn, names=["alice"])
    assert len(calls(emulator, "tracks")) == 1 and summary.people[0].removed == 0


# -- faults ------------------------------------------------------------------------------


def test_429_storm_is_survived_and_retry_after_honoured(authorized, sample_library):
    settings, conn, emulator = authorized.settings, authorized.conn, authorized.emulator
    emulator.rate_limit("tracks", every=2, retry_after=1, times=3)
    sync.run(settings, conn, with_features=False)
    log = calls(emulator, "tracks")
    limited = [i for i, r in enumerate(log) if r["status"] == 429]
    assert len(limited) == 3
    for i in limited:  # one client, one call at a time: the next call is the retry
        assert log[i + 1]["time"] - log[i]["time"] >= 1.0
    assert likes_in_db(conn, "alice").keys() == library_likes(sample_library, "alice").keys()


def test_hour_long_retry_after_fails_fast_and_next_run_recovers(authorized, sample_library):
    settings, conn, emulator = authorized.settings, authorized.conn, authorized.emulator
    emulator.rate_limit("tracks", every=3, retry_after=3600, times=1)
    with pytest.raises(RetryLater, match="3600 s"):
        sync.run(settings, conn)
    assert len(calls(emulator, "tracks", 429)) == 1
    emulator.clear_faults()
    sync.run(settings, conn)
    for person in sample_library.people:
        assert likes_in_db(conn, person.name).keys() == library_likes(sample_library, person.name).keys()


def test_503_bursts_html_500_resets_and_garbage_are_survived(authorized, sample_library):
    settings, conn, emulator = authorized.settings, authorized.conn, authorized.emulator
    emulator.fail("tracks", status=503, count=3)
    emulator.fail("reccobeats", status=500, count=1, html=True)
    emulator.reset_connections("tracks", count=1)
    emulator.malformed("tracks", count=1)
    sync.run(settings, conn)
    assert likes_in_db(conn, "bob").keys() == library_likes(sample_library, "bob").keys()
    assert {r["status"] for r in calls(emulator, "tracks")} >= {200, 503}


def test_audio_features_403_falls_back_to_reccobeats_once(authorized, sample_library, caplog):
    # Spotify asked first, as configured for an extended-quota app, by an app that no longer has it.
    settings, conn, emulator = with_sources(authorized.settings), authorized.conn, authorized.emulator
    emulator.deprecate_audio_features()
    summary = sync.run(settings, conn)
    assert len(calls(emulator, "audio_features", 403)) == 1
    assert summary.features["unavailable"]["spotify"].startswith("403")
    assert summary.features["found"]["reccobeats"] > 0
    assert sum("removed the endpoint for apps created after 27 November 2024" in r.message for r in caplog.records) == 1
    with db.transaction(conn) as cur:
        cur.execute("SELECT DISTINCT source FROM audio_features")
        assert {row[0] for row in cur.fetchall()} == {"reccobeats", "csv"}
    # The next night does not ask Spotify again for a week.
    emulator.add_like("alice")
    emulator.clear_requests()
    sync.run(settings, conn)
    assert calls(emulator, "audio_features") == [] and len(calls(emulator, "reccobeats")) == 1


def test_revoked_person_fails_alone_with_what_to_do(authorized, sample_library):
    settings, conn, emulator = authorized.settings, authorized.conn, authorized.emulator
    emulator.revoke("bob")
    emulator.expire_access_tokens()
    with pytest.raises(AuthorizationError, match=r"sync failed for bob: .*authorize --user bob"):
        sync.run(settings, conn)
    assert likes_in_db(conn, "alice").keys() == library_likes(sample_library, "alice").keys()
    assert likes_in_db(conn, "bob") == {}


def test_unregistered_person_is_told_about_the_dashboard(authorized):
    settings, conn, emulator = authorized.settings, authorized.conn, authorized.emulator
    emulator.unregister("alice")
    with pytest.raises(AuthorizationError, match="not registered in the Spotify app's Developer Dashboard"):
        sync.run(settings, conn, names=["alice"])


def test_expired_access_token_is_refreshed_and_kept(synced):
    settings, conn, emulator = synced.settings, synced.conn, synced.emulator
    with db.transaction(conn) as cur:
        cur.execute("SELECT token_info->>'access_token' FROM spotify_tokens ORDER BY person_id")
        before = [row[0] for row in cur.fetchall()]
    emulator.expire_access_tokens()  # the server expires them early: 401 on the next call
    emulator.clear_requests()
    sync.run(settings, conn)
    assert len(calls(emulator, "tracks", 401)) == 2 and len(calls(emulator, "tracks", 200)) == 2
    assert len(calls(emulator, "token", 200)) == 2
    with db.transaction(conn) as cur:
        cur.execute("SELECT token_info->>'access_token' FROM spotify_tokens ORDER BY person_id")
        after = [row[0] for row in cur.fetchall()]
    assert all(a != b for a, b in zip(after, before))


@pytest.mark.parametrize(
    "kind, reason",
    [
        ("null_track", "null_track"),
        ("local_file", "local_file"),
        ("episode", "not_a_track"),
        ("duplicate", "duplicate"),
    ],
)
def test_quirky_items_are_skipped_and_counted(authorized, kind, reason):
    settings, conn, emulator = authorized.settings, authorized.conn, authorized.emulator
    emulator.add_quirk("alice", kind)
    summary = sync.run(settings, conn, names=["alice"])
    assert summary.people[0].skipped[reason] == 1


@pytest.mark.parametrize("kind", ["missing_album", "non_ascii"])
def test_odd_but_valid_tracks_are_stored(authorized, kind):
    settings, conn, emulator = authorized.settings, authorized.conn, authorized.emulator
    emulator.add_quirk("alice", kind)
    summary = sync.run(settings, conn, names=["alice"])
    assert not summary.people[0].skipped
    with db.transaction(conn) as cur:
        cur.execute("SELECT name, album_name, artists FROM tracks ORDER BY first_seen_at DESC, track_id LIMIT 200")
        rows = cur.fetchall()
    if kind == "missing_album":
        assert summary.people[0].missing_fields == 1
        assert any(album is None and artists == [] for _, album, artists in rows)
    else:
        assert any(name and not name.isascii() for name, _, _ in rows)


def test_unknown_features_are_not_asked_again_every_night(synced, sample_library):
    settings, conn, emulator = synced.settings, synced.conn, synced.emulator
    unknown = [t for t in sample_library.owners() if not sample_library.tracks[t]["known_by"]]
    assert unknown, "the sample library should hold tracks no source knows"
    emulator.clear_requests()
    summary = features.fetch_missing(settings, conn)
    assert summary.wanted == 0 and emulator.requests() == []


# -- people and tokens ------------------------------------------------------------------------


def test_authorize_with_refresh_token_stores_profile_and_token(authorized, sample_library):
    conn = authorized.conn
    with db.transaction(conn) as cur:
        cur.execute("""SELECT p.name, p.spotify_user_id, p.display_name, t.token_info ? 'refresh_token'
                         FROM people p JOIN spotify_tokens t USING (person_id) ORDER BY p.name""")
        rows = cur.fetchall()
    assert rows == [(p.name, p.user_id, p.display_name, True) for p in sample_library.people]


def test_authorize_with_revoked_token_stores_nothing(emulator_settings):
    settings, conn, emulator = emulator_settings.settings, emulator_settings.conn, emulator_settings.emulator
    token = emulator.refresh_token("alice")
    emulator.revoke("alice")
    with pytest.raises(AuthorizationError, match="authorize --user alice"):
        authorize(settings, conn, "alice", refresh_token=token)
    assert status(conn)["users"] == {}


def test_authorize_interactively_through_the_pasted_address(emulator_settings):
    import re

    import requests

    settings, conn = emulator_settings.settings, emulator_settings.conn

    def browser(prompt):
        url = re.search(r"(http://\S+/authorize\S+)", prompt).group(1)
        answer = requests.get(url + "&user=bob", allow_redirects=False, timeout=5)
        return answer.headers["Location"]

    profile = authorize(settings, conn, "bobby", ask=browser)
    assert profile["id"].startswith("synthetic-bob")
    assert status(conn)["users"]["bobby"]["likes"] == 0


def test_authorize_from_a_spotipy_cache_file(emulator_settings, tmp_path):
    import json

    settings, conn, emulator = emulator_settings.settings, emulator_settings.conn, emulator_settings.emulator
    cache = tmp_path / ".cache-alice"
    cache.write_text(
        json.dumps(
            {
                "access_token": "stale",
                "token_type": "Bearer",
                "expires_in": 3600,
                "expires_at": 0,
                "scope": "user-library-read",
                "refresh_token": emulator.refresh_token("alice"),
            }
        )
    )
    authorize(settings, conn, "alice", cache_file=cache)
    sync.run(settings, conn, names=["alice"])
    assert status(conn)["users"]["alice"]["likes"] > 0


def test_person_never_authorized_waits_without_failing_others(authorized):
    settings, conn = authorized.settings, authorized.conn
    from taskcode import store

    with db.transaction(conn) as cur:
        store.ensure_person(cur, "carol")
    summary = sync.run(settings, conn)
    assert [p.name for p in summary.people if p.waiting_for_authorization] == ["carol"]
    with pytest.raises(AuthorizationError, match="carol has not authorized"):
        sync.run(settings, conn, names=["carol"])


def test_unknown_person_is_a_clear_error(authorized):
    with pytest.raises(SpotifyError.__mro__[1], match="no person named 'zed'"):
        sync.run(authorized.settings, authorized.conn, names=["zed"])


def test_the_nightly_steps_and_the_command_wait_for_the_same_people_and_record_runs(authorized, sample_library):
    """The DAG's steps and the CLI's sync share one rule for who waits; every step leaves a run the Data page lists."""
    from taskcode import pipeline, queries, store

    settings, conn = authorized.settings, authorized.conn
    with db.transaction(conn) as cur:
        store.ensure_person(cur, "carol")
    command = sync.run(settings, conn)
    ready = pipeline.people()
    assert ready == [p.name for p in command.people if not p.waiting_for_authorization]
    assert sorted(ready) == sorted(p.name for p in sample_library.people)
    nightly = [pipeline.sync_person(name) for name in ready]
    assert [(step["person"], step["new_likes"], step["error"]) for step in nightly] == [(n, 0, None) for n in ready]
    assert pipeline.features()["wanted"] == 0
    runs = queries.recent_runs(conn).iloc[::-1]
    assert list(runs["kind"]) == ["sync"] * (1 + len(ready)) + ["features"]
    assert set(runs["status"]) == {"succeeded"}
    assert runs.iloc[0]["summary"]["waiting_for_authorization"] == ["carol"]
    assert [r["person"] for r in runs["summary"].iloc[1:-1]] == ready
