"""The Web API: /v1/me, /v1/me/tracks, /v1/me/library/contains and /v1/audio-features, as strict as Spotify's."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from emulator import shapes
from emulator.accounts import LIBRARY_SCOPE
from emulator.messages import Answer, Call, bad_request, error, ids_param, int_param, json_answer

if TYPE_CHECKING:
    from emulator.service import Emulator

MAX_AUDIO_FEATURE_IDS = 100
MAX_LIBRARY_URIS = 40  # per /me/library/contains request
_SPOTIFY_ID = re.compile(r"[0-9A-Za-z]{22}")
# The kinds a library holds; a user's id is not base 62.
_LIBRARY_URI = re.compile(
    r"spotify:(track|album|artist|episode|show|audiobook|playlist):[0-9A-Za-z]{22}|spotify:user:[^:]+"
)
_MARKET = re.compile(r"[A-Z]{2}|from_token")


def me(emu: Emulator, call: Call) -> Answer:
    """The profile as a development-mode app sees it: no country, email, explicit_content, followers, product."""
    emu.accounts.authenticate(call)
    person = emu.library.person(call.person)
    return json_answer(
        200, shapes.spotify_object(emu.api_base, "user", person.user_id, display_name=person.display_name, images=[])
    )


def saved_tracks(emu: Emulator, call: Call) -> Answer:
    """One page of the person's liked songs, newest first, with Spotify's paging links."""
    emu.accounts.authenticate(call, scope=LIBRARY_SCOPE)
    limit = int_param(call.query, "limit", default=20, low=1, high=50)
    offset = int_param(call.query, "offset", default=0, low=0)
    market = call.query.get("market")
    if market is not None and not _MARKET.fullmatch(market):
        raise bad_request("Invalid market code")
    entries = emu.likes.entries(call.person)
    total = len(entries)

    def page(at: int) -> str:
        params = {"offset": at, "limit": limit, **({"market": market} if market else {})}
        return f"{emu.api_base}/me/tracks?{urlencode(params)}"

    return json_answer(
        200,
        {
            "href": page(offset),
            "items": [
                {"added_at": added_at, "track": _served(emu, track)}
                for added_at, track in entries[offset : offset + limit]
            ],
            "limit": limit,
            "next": page(offset + limit) if offset + limit < total else None,
            "offset": offset,
            "previous": page(max(0, offset - limit)) if offset > 0 else None,
            "total": total,
        },
    )


def library_contains(emu: Emulator, call: Call) -> Answer:
    """Whether each URI is in the person's library, in order: liked songs, and their playlists not deleted.

    Nothing else is ever saved here (albums, shows, followed playlists): false.
    """
    emu.accounts.authenticate(call, scope=LIBRARY_SCOPE)
    raw = call.query.get("uris")
    if not raw:
        raise bad_request("Missing required parameter: uris")
    uris = raw.split(",")
    if len(uris) > MAX_LIBRARY_URIS:
        raise bad_request(f"Too many ids requested: at most {MAX_LIBRARY_URIS} uris")
    for uri in uris:
        if not _LIBRARY_URI.fullmatch(uri):
            raise bad_request(f"Invalid uri: {uri}")
    liked = {track for _, track in emu.likes.entries(call.person) if isinstance(track, str)}

    def saved(uri: str) -> bool:
        _, kind, item_id = uri.split(":", 2)
        if kind == "track":
            return item_id in liked
        return kind == "playlist" and emu.playlists.in_library(call.person, item_id)

    return json_answer(200, [saved(uri) for uri in uris])


def _served(emu: Emulator, track: str | dict | None) -> dict | None:
    """A library track id in Spotify's shape; a quirk item as it was made."""
    return shapes.track(emu.api_base, track, emu.library.tracks[track]) if isinstance(track, str) else track


def audio_features(emu: Emulator, call: Call) -> Answer:
    """Gone for every development-mode app since 2026-03-09; served to extended-quota apps only."""
    emu.accounts.authenticate(call, registered=False)
    if emu.faults.audio_features_gone:
        return error(403)  # exactly {"error":{"status":403}}: no message, as Spotify sends it
    ids = ids_param(call.query, MAX_AUDIO_FEATURE_IDS)
    if not all(_SPOTIFY_ID.fullmatch(track_id) for track_id in ids):
        raise bad_request("invalid request")
    return json_answer(200, {"audio_features": [_features(emu, track_id) for track_id in ids]})


def _features(emu: Emulator, track_id: str) -> dict | None:
    row = emu.library.tracks.get(track_id)
    if row is None or "spotify" not in row["known_by"]:
        return None
    return shapes.audio_features(emu.api_base, track_id, row)
