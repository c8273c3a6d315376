"""ReccoBeats: the free audio-features service the project falls back on after Spotify's 403."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from emulator.messages import Answer, Call, ids_param, json_answer
from taskcode.schema import RECCOBEATS_FIELDS  # the fields ReccoBeats answers: one list for both sides

if TYPE_CHECKING:
    from emulator.service import Emulator

MAX_RECCOBEATS_IDS = 40


def audio_features(emu: Emulator, call: Call) -> Answer:
    """No key needed. Items carry ReccoBeats' own ids and come in its own order:
    a client must find the Spotify id in `href`, not rely on positions."""
    content = []
    for track_id in dict.fromkeys(ids_param(call.query, MAX_RECCOBEATS_IDS)):
        row = emu.library.tracks.get(track_id)
        if row is not None and "reccobeats" in row["known_by"]:
            content.append(
                {
                    "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"reccobeats:{track_id}")),
                    "href": f"https://open.spotify.com/track/{track_id}",
                    **{name: row["features"][name] for name in RECCOBEATS_FIELDS},
                }
            )
    content.sort(key=lambda item: item["id"])
    return json_answer(200, {"content": content})
