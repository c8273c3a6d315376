"""ReccoBeats: the free audio-features service the project falls back on after Spotify's 403."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from emulator import shapes
from emulator.messages import Answer, Call, ids_param, json_answer
from taskcode.schema import RECCOBEATS_FIELDS  # the fields ReccoBeats answers: one list for both sides

if TYPE_CHECKING:
    from emulator.service import Emulator

MAX_RECCOBEATS_IDS = 40


def _own_id(track_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"reccobeats:{track_id}"))


def _known(emu: Emulator, call: Call) -> list[tuple[str, dict]]:
    """The asked tracks ReccoBeats knows, each once (1-40 Spotify ids, else 400)."""
    asked = dict.fromkeys(ids_param(call.query, MAX_RECCOBEATS_IDS))
    rows = ((track_id, emu.library.tracks.get(track_id)) for track_id in asked)
    return [(track_id, row) for track_id, row in rows if row is not None and "reccobeats" in row["known_by"]]


def audio_features(emu: Emulator, call: Call) -> Answer:
    """No key needed. Items carry ReccoBeats' own ids and come in its own order:
    a client must find the Spotify id in `href`, not rely on positions."""
    content = [
        {
            "id": _own_id(track_id),
            "href": f"https://open.spotify.com/track/{track_id}",
            **{name: row["features"][name] for name in RECCOBEATS_FIELDS},
        }
        for track_id, row in _known(emu, call)
    ]
    content.sort(key=lambda item: item["id"])
    return json_answer(200, {"content": content})


def tracks(emu: Emulator, call: Call) -> Answer:
    """`GET /v1/track?ids=` (1-40 Spotify ids): track records with the ISRC and the popularity
    Spotify no longer sends; the same own ids, own order and silence about unknown tracks."""
    content = [
        {
            "id": _own_id(track_id),
            "trackTitle": row["name"],
            "artists": [{"id": _own_id(a["id"]), "name": a["name"]} for a in row["artists"]],
            "durationMs": row["duration_ms"],
            "isrc": row.get("isrc") or shapes.isrc(track_id),
            "href": f"https://open.spotify.com/track/{track_id}",
            "popularity": shapes.popularity(track_id),
        }
        for track_id, row in _known(emu, call)
    ]
    content.sort(key=lambda item: item["id"])
    return json_answer(200, {"content": content})
