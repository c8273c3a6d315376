"""The sample library straight into the project's database, as a first sync would write it, without HTTP.

For tests of later stages (model, map, dashboard) and for benchmarks: the
same rows through the same upserts as the sync.
"""

from __future__ import annotations

from emulator.library import Library
from emulator.shapes import isrc
from taskcode import store
from taskcode.db import transaction
from taskcode.items import SavedTrack, TrackRow, parse_timestamp


def load_into_database(conn, library: Library, *, with_features: bool = True) -> None:
    """Write the library in one transaction; features get the first source that knows the track,
    as the fallback order would."""
    liked = [library.tracks[track_id] for track_id in library.owners()]  # catalog-only songs are not synced
    with transaction(conn) as cur:
        ids = {p.name: store.ensure_person(cur, p.name) for p in library.people}
        store.upsert_tracks(cur, (track_row(t) for t in liked))
        for person in library.people:
            saved = [
                SavedTrack(track_row(library.tracks[like.track_id]), parse_timestamp(like.added_at))
                for like in library.likes_of(person.name)
            ]
            store.upsert_likes(cur, ids[person.name], saved)
            if saved:
                newest = saved[0].added_at
                ties = frozenset(s.track.track_id for s in saved if s.added_at == newest)
                store.save_watermark(cur, ids[person.name], store.Watermark(newest, ties))
        if with_features:
            store.upsert_features(
                cur,
                (
                    {"track_id": t["id"], "source": t["known_by"][0], "duration_ms": t["duration_ms"], **t["features"]}
                    for t in liked
                    if t["known_by"]
                ),
            )


def track_row(track: dict) -> TrackRow:
    """A library track as the row a sync stores for it."""
    album = track.get("album") or {}
    release = album.get("release_date")
    return TrackRow(
        track_id=track["id"],
        name=track["name"],
        artists=tuple(a["name"] for a in track["artists"]),
        artist_ids=tuple(a["id"] for a in track["artists"]),
        album_id=album.get("id"),
        album_name=album.get("name"),
        release_date=release,
        release_year=int(release[:4]) if release else None,
        duration_ms=track["duration_ms"],
        explicit=track["explicit"],
        isrc=track.get("isrc") or isrc(track["id"]),
    )
