"""ISRCs from Spotify's track objects, popularity (and missing ISRCs) from ReccoBeats' /v1/track."""

from __future__ import annotations

import datetime as dt

import requests

from emulator.shapes import isrc, popularity
from taskcode import db, features, store
from taskcode.items import SavedTrack, TrackRow, parse_track


def track_info(conn) -> dict[str, tuple]:
    with db.transaction(conn) as cur:
        cur.execute("SELECT track_id, isrc, popularity, info_checked_at IS NOT NULL FROM tracks")
        return {track_id: tuple(rest) for track_id, *rest in cur.fetchall()}


def test_reccobeats_track_records_are_strict_and_keyed_by_href(emulator, sample_library):
    url = emulator.env()["RECCOBEATS_API_BASE"] + "/track"
    ids = list(sample_library.tracks)[:40]
    content = requests.get(url, params={"ids": ",".join(ids)}).json()["content"]
    known = {t for t in ids if "reccobeats" in sample_library.tracks[t]["known_by"]}
    by_id = {item["href"].rsplit("/", 1)[1]: item for item in content}
    assert set(by_id) == known
    for track_id, item in by_id.items():
        assert item["isrc"] == isrc(track_id) and item["popularity"] == popularity(track_id)
        assert item["durationMs"] == sample_library.tracks[track_id]["duration_ms"] and track_id not in item["id"]
    assert requests.get(url, params={"ids": ",".join(list(sample_library.tracks)[:41])}).status_code == 400
    assert requests.get(url).status_code == 400
    assert [r["status"] for r in emulator.requests("reccobeats_track")] == [200, 400, 400]


def test_isrc_is_parsed_and_normalised():
    base = {"id": "4uLU6hMCjMI75M1A2tKUQC"}
    assert parse_track({**base, "external_ids": {"isrc": "us-rc1-76-07839"}}).isrc == "USRC17607839"
    for odd in ({}, {"external_ids": None}, {"external_ids": {"isrc": 12}}, {"external_ids": {"isrc": "nope"}}):
        assert parse_track({**base, **odd}).isrc is None


def test_a_sync_stores_isrcs_and_reccobeats_popularity_once(synced, sample_library):
    settings, conn, emulator = synced.settings, synced.conn, synced.emulator
    info = track_info(conn)
    assert info and all(stored_isrc == isrc(t) for t, (stored_isrc, _, _) in info.items())
    for track_id, (_, stored_popularity, checked) in info.items():
        known = "reccobeats" in sample_library.tracks[track_id]["known_by"]
        assert checked and stored_popularity == (popularity(track_id) if known else None)
    asked = [i for r in emulator.requests("reccobeats_track") for i in r["query"]["ids"].split(",")]
    assert sorted(asked) == sorted(info)  # each track once
    emulator.clear_requests()
    features.fetch_missing(settings, conn)  # tracks ReccoBeats does not know are not asked again tonight
    assert emulator.requests("reccobeats_track") == []


def test_an_imported_song_gets_its_isrc_from_reccobeats(authorized, sample_library):
    settings, conn = authorized.settings, authorized.conn
    track_id = next(t for t, row in sample_library.tracks.items() if "reccobeats" in row["known_by"])
    with db.transaction(conn) as cur:
        [alice] = store.get_people(cur, ["alice"])
        store.upsert_tracks(cur, [TrackRow(track_id, name="from an export")])
        store.upsert_likes(cur, alice.person_id, [SavedTrack(TrackRow(track_id), dt.datetime.now(dt.UTC))])
    features.fetch_missing(settings, conn)
    assert track_info(conn)[track_id] == (isrc(track_id), popularity(track_id), True)


def test_a_failing_reccobeats_costs_only_the_popularity(authorized, sample_library):
    settings, conn, emulator = authorized.settings, authorized.conn, authorized.emulator
    emulator.fail("reccobeats_track", status=503, count=100)  # a burst past every retry
    track_id = next(iter(sample_library.tracks))
    with db.transaction(conn) as cur:
        [alice] = store.get_people(cur, ["alice"])
        store.upsert_tracks(cur, [TrackRow(track_id, name="song")])
        store.upsert_likes(cur, alice.person_id, [SavedTrack(TrackRow(track_id), dt.datetime.now(dt.UTC))])
    summary = features.fetch_missing(settings, conn)
    assert summary.wanted == 1
    assert track_info(conn)[track_id] == (None, None, False)  # asked again next run
