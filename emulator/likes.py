"""The library while it is served: likes added and removed, odd items, each person's sorted likes.

Change the library through here (the Emulator's `add_like`, `remove_like`,
`add_quirk`), not directly: the sorted likes are cached per person.
"""

from __future__ import annotations

import random
import re
import string
import threading
import time

from emulator import shapes
from emulator.library import Library
from taskcode.errors import DataError

QUIRKS = ("null_track", "local_file", "episode", "duplicate", "missing_album", "non_ascii")
_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")

Entry = tuple[str, "str | dict | None"]  # (added_at, track id or the item a quirk serves)


class Likes:
    """Each person's /me/tracks entries: the library's likes plus the quirk items."""

    def __init__(self, library: Library, lock: threading.RLock):
        self.library = library
        self._lock = lock
        self._extras: dict[str, list[Entry]] = {}  # quirk items per person
        self._sorted: dict[str, list[Entry]] = {}  # cache: newest first
        self._rng = random.Random(library.seed)  # same library, same quirk ids

    def add_like(self, name: str, track_id: str | None = None, added_at: str | None = None) -> str:
        with self._lock:
            self.library.person(name)
            stamp = _stamp(added_at)
            if track_id is None:
                track_id = self.library.new_track(name)["id"]
            self.library.add_like(name, track_id, stamp)
            self._sorted.pop(name, None)
            return track_id

    def remove_like(self, name: str, track_id: str) -> bool:
        with self._lock:
            self.library.person(name)
            removed = self.library.remove_like(name, track_id)
            self._extras[name] = [item for item in self._extras.get(name, []) if item[1] != track_id]
            self._sorted.pop(name, None)
            return removed

    def add_quirk(self, name: str, kind: str, added_at: str | None, api_base: str) -> str | None:
        with self._lock:
            self.library.person(name)
            stamp = _stamp(added_at)
            if kind in ("missing_album", "non_ascii"):
                return self._odd_track(name, kind, stamp)
            item = self._served_item(name, kind, api_base)
            self._extras.setdefault(name, []).append((stamp, item))
            self._sorted.pop(name, None)
            return item.get("id") if isinstance(item, dict) else item

    def _odd_track(self, name: str, kind: str, stamp: str) -> str:
        """A real new like with an odd shape: a sync must store it."""
        track = self.library.new_track(name)
        if kind == "missing_album":
            del track["album"]
            track["artists"] = []
        else:
            track["name"] = f"Smörgåsbord för Zoë, 東京 (Synthetic {len(self.library.tracks)})"
            track["artists"] = [{"id": self._new_id(), "name": "Synthetic Ærøskøbing Ñandú Çelik"}]
        self.library.add_like(name, track["id"], stamp)
        self._sorted.pop(name, None)
        return track["id"]

    def _served_item(self, name: str, kind: str, api_base: str) -> str | dict | None:
        """An item that exists only in what /me/tracks answers."""
        if kind == "duplicate":
            item = next((track for _, track in self.entries(name) if isinstance(track, str)), None)
            if item is None:
                raise DataError(f"{name} likes no track that could appear twice")
            return item
        if kind == "null_track":
            return None
        if kind == "local_file":
            return shapes.local_file(f"Synthetic Local File {self._rng.randrange(10**6)}")
        if kind == "episode":
            show_id, episode_id = self._new_id(), self._new_id()
            return shapes.episode(api_base, episode_id, show_id, self._rng.randrange(1000))
        raise DataError(f"no quirk {kind!r}; known: {', '.join(QUIRKS)}")

    def entries(self, name: str) -> list[Entry]:
        """The person's entries, newest first, cached until a change.

        Without the cache, every page of a 20-person library would scan and
        sort all likes again. Equal stamps keep the order they were added in.
        """
        with self._lock:
            entries = self._sorted.get(name)
            if entries is None:
                entries = [(like.added_at, like.track_id) for like in self.library.likes if like.person == name]
                entries += self._extras.get(name, [])
                entries.sort(key=lambda entry: entry[0], reverse=True)
                self._sorted[name] = entries
            return entries

    def _new_id(self) -> str:
        return "".join(self._rng.choice(string.digits + string.ascii_letters) for _ in range(22))


def _stamp(added_at: str | None) -> str:
    """Spotify's added_at format; the like lists sort by it as text, so it must be exact."""
    if added_at is None:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if not isinstance(added_at, str) or not _STAMP.fullmatch(added_at):
        raise DataError(f"added_at must look like 2024-05-01T12:00:00Z, not {added_at!r}")
    return added_at
