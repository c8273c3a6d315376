"""Library rows in the shapes Spotify answers with (as development-mode apps see them)."""

from __future__ import annotations

import hashlib

from taskcode.schema import RECCOBEATS_FIELDS


def isrc(track_id: str) -> str:
    """A stable fake ISRC per track: "QZ" (a real prefix of self-issued codes) and ten digits."""
    return "QZ" + f"{int(hashlib.sha256(track_id.encode()).hexdigest(), 16) % 10**10:010d}"


def popularity(track_id: str) -> int:
    """A stable popularity 0-100, as ReccoBeats answers (Spotify no longer sends one)."""
    return int(hashlib.sha256(b"popularity:" + track_id.encode()).hexdigest(), 16) % 101


def spotify_object(api_base: str, kind: str, object_id: str, **fields) -> dict:
    """The links every Spotify object carries, plus its own fields."""
    return {
        "external_urls": {"spotify": f"https://open.spotify.com/{kind}/{object_id}"},
        "href": f"{api_base}/{kind}s/{object_id}",
        "id": object_id,
        "type": kind,
        "uri": f"spotify:{kind}:{object_id}",
        **fields,
    }


def track(api_base: str, track_id: str, row: dict) -> dict:
    """A library row as Spotify's track object."""
    artists = [spotify_object(api_base, "artist", a["id"], name=a["name"]) for a in row["artists"]]
    fields = {}
    if "album" in row:  # the "missing_album" quirk has none
        album = row["album"]
        fields["album"] = spotify_object(
            api_base,
            "album",
            album["id"],
            album_type="album",
            artists=artists,
            images=[],
            name=album["name"],
            release_date=album["release_date"],
            release_date_precision=album["release_date_precision"],
            total_tracks=12,
        )
    if artists:
        fields["artists"] = artists
    return spotify_object(
        api_base,
        "track",
        track_id,
        **fields,
        disc_number=1,
        duration_ms=row["duration_ms"],
        explicit=row["explicit"],
        external_ids={"isrc": row.get("isrc") or isrc(track_id)},
        is_local=False,
        name=row["name"],
        preview_url=None,
        track_number=1 + sum(track_id.encode()) % 12,  # stable and plausible
    )


def audio_features(api_base: str, track_id: str, row: dict) -> dict:
    """One item of /v1/audio-features."""
    features = row["features"]
    return {
        **{name: features[name] for name in RECCOBEATS_FIELDS},
        "analysis_url": f"{api_base}/audio-analysis/{track_id}",
        "duration_ms": row["duration_ms"],
        "id": track_id,
        "time_signature": features["time_signature"],
        "track_href": f"{api_base}/tracks/{track_id}",
        "type": "audio_features",
        "uri": f"spotify:track:{track_id}",
    }


def local_file(title: str) -> dict:
    """A file the person added from disk: no id, no links, a spotify:local: uri."""
    return {
        "album": {
            "album_type": None,
            "artists": [],
            "external_urls": {},
            "href": None,
            "id": None,
            "images": [],
            "name": "Synthetic Local Album",
            "release_date": None,
            "release_date_precision": None,
            "type": "album",
            "uri": None,
        },
        "artists": [
            {
                "external_urls": {},
                "href": None,
                "id": None,
                "name": "Synthetic Local Artist",
                "type": "artist",
                "uri": None,
            }
        ],
        "disc_number": 0,
        "duration_ms": 201000,
        "explicit": False,
        "external_ids": {},
        "external_urls": {},
        "href": None,
        "id": None,
        "is_local": True,
        "name": title,
        "preview_url": None,
        "track_number": 0,
        "type": "track",
        "uri": "spotify:local:Synthetic+Local+Artist:Synthetic+Local+Album:" + title.replace(" ", "+") + ":201",
    }


def episode(api_base: str, episode_id: str, show_id: str, number: int) -> dict:
    """A podcast episode where a track was expected (type "episode")."""
    show = spotify_object(api_base, "show", show_id, name="Synthetic Podcast", publisher="Synthetic Radio")
    return spotify_object(
        api_base,
        "episode",
        episode_id,
        name=f"Synthetic Episode {number}",
        description="Not a song.",
        duration_ms=1_800_000,
        explicit=False,
        images=[],
        is_local=False,
        release_date="2026-10-01",
        release_date_precision="day",
        show=show,
        episode=True,
        track=False,
    )
