"""Playlists, as the 2026 Web API has them: create, replace, append and read items, list your own.

Strict like Spotify: writes need `playlist-modify-private` (or `-public` for a
public playlist), only the owner writes or reads the items, at most 100 URIs a
request, every URI a real track. Spotify's create defaults to a public
playlist when the body says nothing. A playlist the person deleted answers 404
(`delete_playlist`: as if they deleted it in Spotify's app).
"""

from __future__ import annotations

import json
import re
import secrets
import string
import threading
import time
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from emulator import shapes
from emulator.library import Library, Playlist
from emulator.messages import Answer, Call, Refused, bad_request, error, int_param, json_answer
from taskcode.errors import DataError

if TYPE_CHECKING:
    from emulator.service import Emulator

MAX_URIS = 100  # per request, for PUT and POST alike
MODIFY_PRIVATE, MODIFY_PUBLIC, READ_PRIVATE = (
    "playlist-modify-private",
    "playlist-modify-public",
    "playlist-read-private",
)
_TRACK_URI = re.compile(r"spotify:track:([0-9A-Za-z]{22})")


class Playlists:
    """Every person's playlists; every change holds the emulator's lock."""

    def __init__(self, library: Library, lock: threading.RLock):
        self.library = library  # the playlists live in the library, which the demo saves night after night
        self._lock = lock

    def create(self, person: str, name: str, description: str, public: bool) -> Playlist:
        with self._lock:
            playlist_id = "".join(secrets.choice(string.digits + string.ascii_letters) for _ in range(22))
            playlist = Playlist(playlist_id, person, name, description, public)
            self.library.playlists[playlist_id] = playlist
            return playlist

    def delete(self, playlist_id: str) -> bool:
        """The owner deleted it in Spotify's app: it leaves their library, and stays writable by them."""
        with self._lock:
            playlist = self.library.playlists.get(playlist_id)
            if playlist is None:
                raise DataError(f"no playlist {playlist_id!r}")  # a typo must not pass for a deletion
            deleted, playlist.deleted = not playlist.deleted, True
            return deleted

    def found(self, playlist_id: str) -> Playlist:
        playlist = self.library.playlists.get(playlist_id)
        if playlist is None:
            raise Refused(error(404, "Not found."))
        return playlist

    def of(self, person: str) -> list[Playlist]:
        """The playlists in the person's library: their own, less the ones they deleted."""
        with self._lock:
            return [p for p in self.library.playlists.values() if p.owner == person and not p.deleted]

    def in_library(self, person: str, playlist_id: str) -> bool:
        with self._lock:
            playlist = self.library.playlists.get(playlist_id)
            return playlist is not None and playlist.owner == person and not playlist.deleted

    def view(self) -> dict[str, list[dict]]:
        """The admin's view: each person's library of playlists (deleted ones left out), items in order."""
        with self._lock:
            return {person.name: [_summary(p) for p in self.of(person.name)] for person in self.library.people}

    def one(self, playlist_id: str) -> dict:
        """One playlist, deleted or not: whether it is still in its owner's library, and its items."""
        with self._lock:
            playlist = self.library.playlists.get(playlist_id)
            if playlist is None:
                raise DataError(f"no playlist {playlist_id!r}")
            return {**_summary(playlist), "owner": playlist.owner, "in_library": not playlist.deleted}


def _summary(playlist: Playlist) -> dict:
    return {
        "id": playlist.playlist_id,
        "name": playlist.name,
        "description": playlist.description,
        "public": playlist.public,
        "track_ids": [track_id for _, track_id in playlist.items],
    }


def _body(call: Call) -> dict:
    try:
        data = json.loads(call.body) if call.body else {}
    except ValueError:
        raise bad_request("Error parsing JSON.") from None
    if not isinstance(data, dict):
        raise bad_request("Error parsing JSON.")
    return data


def _playlist(emu: Emulator, playlist: Playlist) -> dict:
    owner = emu.library.person(playlist.owner)
    user = shapes.spotify_object(emu.api_base, "user", owner.user_id, display_name=owner.display_name)
    return shapes.spotify_object(
        emu.api_base,
        "playlist",
        playlist.playlist_id,
        name=playlist.name,
        description=playlist.description,
        public=playlist.public,
        collaborative=False,
        images=[],
        owner=user,
        snapshot_id=_snapshot(playlist),
        items={"href": f"{emu.api_base}/playlists/{playlist.playlist_id}/items", "total": len(playlist.items)},
    )


def _snapshot(playlist: Playlist) -> str:
    return f"{playlist.playlist_id}-{playlist.snapshot}"


# -- the routes --------------------------------------------------------------------


def create(emu: Emulator, call: Call) -> Answer:
    """POST /v1/me/playlists: {name, public, description}; 201 with the playlist."""
    emu.accounts.authenticate(call)
    data = _body(call)
    name, public, description = data.get("name"), data.get("public", True), data.get("description", "")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("Missing required field: name")
    if not isinstance(public, bool) or not isinstance(description, str):
        raise bad_request("Invalid request")
    emu.accounts.authenticate(call, scope=MODIFY_PUBLIC if public else MODIFY_PRIVATE)
    playlist = emu.playlists.create(call.person, name, description, public)
    return json_answer(201, _playlist(emu, playlist))


def mine(emu: Emulator, call: Call) -> Answer:
    """GET /v1/me/playlists: the person's playlists (private ones with playlist-read-private)."""
    emu.accounts.authenticate(call)
    limit = int_param(call.query, "limit", default=20, low=1, high=50)
    offset = int_param(call.query, "offset", default=0, low=0)
    private = emu.accounts.has_scope(call, READ_PRIVATE)
    own = [p for p in emu.playlists.of(call.person) if p.public or private]
    return json_answer(200, _page(emu, "me/playlists", [_playlist(emu, p) for p in own], offset, limit))


def _page(emu: Emulator, path: str, entries: list, offset: int, limit: int) -> dict:
    def link(at: int) -> str:
        return f"{emu.api_base}/{path}?{urlencode({'offset': at, 'limit': limit})}"

    total = len(entries)
    return {
        "href": link(offset),
        "items": entries[offset : offset + limit],
        "limit": limit,
        "next": link(offset + limit) if offset + limit < total else None,
        "offset": offset,
        "previous": link(max(0, offset - limit)) if offset > 0 else None,
        "total": total,
    }


def _owned(emu: Emulator, call: Call, write: bool) -> Playlist:
    """The playlist of the path, if the caller may touch it: the owner only (no collaborators here)."""
    emu.accounts.authenticate(call)
    playlist = emu.playlists.found(call.path_params["id"])
    if write:
        emu.accounts.authenticate(call, scope=MODIFY_PUBLIC if playlist.public else MODIFY_PRIVATE)
    elif not playlist.public:
        emu.accounts.authenticate(call, scope=READ_PRIVATE)
    if playlist.owner != call.person:
        raise Refused(error(403, "You cannot modify a playlist you don't own." if write else "Forbidden"))
    return playlist


def _uris(emu: Emulator, call: Call) -> list[str]:
    """The track ids of the body's `uris` (or the query's, comma-separated, as Spotify also takes)."""
    uris = _body(call).get("uris")
    if uris is None and "uris" in call.query:
        uris = call.query["uris"].split(",") if call.query["uris"] else []
    if not isinstance(uris, list):
        raise bad_request("Missing required field: uris")
    if len(uris) > MAX_URIS:
        raise bad_request(f"You can add a maximum of {MAX_URIS} tracks per request.")
    ids = []
    for uri in uris:
        match = _TRACK_URI.fullmatch(uri) if isinstance(uri, str) else None
        if match is None:
            raise bad_request(f"Invalid track uri: {uri}")
        if match.group(1) not in emu.library.tracks:
            raise bad_request("Payload contains a non-existing ID")
        ids.append(match.group(1))
    return ids


def replace(emu: Emulator, call: Call) -> Answer:
    """PUT /v1/playlists/{id}/items: the whole list becomes these (at most 100) songs."""
    playlist = _owned(emu, call, write=True)
    ids = _uris(emu, call)
    playlist.items = [[_now(), track_id] for track_id in ids]
    playlist.snapshot += 1
    return json_answer(200, {"snapshot_id": _snapshot(playlist)})


def add(emu: Emulator, call: Call) -> Answer:
    """POST /v1/playlists/{id}/items: append (or insert at `position`) at most 100 songs."""
    playlist = _owned(emu, call, write=True)
    ids = _uris(emu, call)
    position = _body(call).get("position", len(playlist.items))
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= len(playlist.items):
        raise bad_request("Index out of bounds")
    playlist.items[position:position] = [[_now(), track_id] for track_id in ids]
    playlist.snapshot += 1
    return json_answer(201, {"snapshot_id": _snapshot(playlist)})


def items(emu: Emulator, call: Call) -> Answer:
    """GET /v1/playlists/{id}/items: pages of entries, each song under `item` (the 2026 name)."""
    playlist = _owned(emu, call, write=False)
    limit = int_param(call.query, "limit", default=20, low=1, high=50)
    offset = int_param(call.query, "offset", default=0, low=0)
    owner = emu.library.person(playlist.owner)
    added_by = shapes.spotify_object(emu.api_base, "user", owner.user_id)
    entries = [
        {
            "added_at": added_at,
            "added_by": added_by,
            "is_local": False,
            "item": shapes.track(emu.api_base, track_id, emu.library.tracks[track_id]),
        }
        for added_at, track_id in playlist.items
    ]
    return json_answer(200, _page(emu, f"playlists/{playlist.playlist_id}/items", entries, offset, limit))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
