"""Spotify JSON in, our rows out: every quirk of the real API handled in one place.

Spotify's saved-track items are not always tracks: `track` can be null, a
local file has no id, a podcast episode can appear, and since 2026 most
fields of a track may be missing. Each item either becomes a row or a
reason why it was skipped; nothing here raises on odd input, because one bad
item must never stop a night's sync.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

SPOTIFY_ID = re.compile(r"^[0-9A-Za-z]{22}$")
_TRACK_REF = re.compile(
    r"^(?:spotify:track:|https?://open\.spotify\.com/(?:intl-[a-z-]+/)?track/)?([0-9A-Za-z]{22})(?:[?#/].*)?$"
)
# An ISRC: country, registrant, year, serial (12 characters; written with or without hyphens).
_ISRC = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$")


@dataclass(frozen=True)
class TrackRow:
    track_id: str
    name: str | None = None
    artists: tuple[str, ...] = ()
    artist_ids: tuple[str, ...] = ()
    album_id: str | None = None
    album_name: str | None = None
    release_date: str | None = None
    release_year: int | None = None
    duration_ms: int | None = None
    explicit: bool | None = None
    isrc: str | None = None


@dataclass(frozen=True)
class SavedTrack:
    track: TrackRow
    added_at: dt.datetime


def parse_saved_item(item) -> SavedTrack | str:
    """One item of /me/tracks: a SavedTrack, or the reason it was skipped."""
    if not isinstance(item, dict):
        return "malformed_item"
    track = item.get("track")
    if track is None:
        return "null_track"
    if not isinstance(track, dict):
        return "malformed_item"
    if track.get("is_local"):
        return "local_file"
    if track.get("type", "track") != "track":
        return "not_a_track"
    added_at = parse_timestamp(item.get("added_at"))
    if added_at is None:
        return "bad_added_at"
    row = parse_track(track)
    if row is None:
        return "no_id"
    return SavedTrack(row, added_at)


def parse_track(track: dict) -> TrackRow | None:
    """A track object to a row; every field but a valid id is optional."""
    track_id = track.get("id")
    if not isinstance(track_id, str) or not SPOTIFY_ID.match(track_id):
        return None
    artists = [a for a in track.get("artists") or [] if isinstance(a, dict)]
    album = track.get("album") if isinstance(track.get("album"), dict) else {}
    release_date = _text(album.get("release_date"))
    external = track.get("external_ids") if isinstance(track.get("external_ids"), dict) else {}
    return TrackRow(
        track_id=track_id,
        name=_text(track.get("name")),
        artists=tuple(_text(a.get("name")) or "" for a in artists),
        artist_ids=tuple(_text(a.get("id")) or "" for a in artists),
        album_id=_text(album.get("id")),
        album_name=_text(album.get("name")),
        release_date=release_date,
        release_year=_year(release_date),
        duration_ms=_int(track.get("duration_ms")),
        explicit=track.get("explicit") if isinstance(track.get("explicit"), bool) else None,
        isrc=isrc_from(external.get("isrc")),
    )


def parse_timestamp(value) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def track_id_from(reference: str) -> str | None:
    """A track id from an id, a spotify:track: URI or an open.spotify.com URL."""
    match = _TRACK_REF.match(reference.strip())
    return match.group(1) if match else None


def isrc_from(value) -> str | None:
    """A normalised ISRC ("USRC17607839"), or None for anything that is not one."""
    if not isinstance(value, str):
        return None
    text = value.replace("-", "").strip().upper()
    return text if _ISRC.match(text) else None


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _year(release_date: str | None) -> int | None:
    if release_date and len(release_date) >= 4 and release_date[:4].isdigit():
        return int(release_date[:4])
    return None
