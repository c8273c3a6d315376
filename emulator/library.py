"""The sample library: people, songs and who likes what, in our own JSON file (`format: 1`).

No machine here reaches Spotify, so the emulator, the tests, the demo and the
benchmarks all serve such a library instead (`emulator.sample.generate` makes
one; `emulator.taste` says how its songs are drawn). The emulator turns its
rows into the shapes Spotify answers with.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from emulator.shapes import popularity
from emulator.taste import (
    DEFAULT_SEPARATION,
    LATENT_DIMS,
    artist_number,
    random_ids,
    taste_centres,
    tracks_from_latent,
)
from taskcode.catalog import CATALOG_COLUMNS
from taskcode.errors import DataError

FORMAT = 1


@dataclass
class Person:
    name: str
    user_id: str
    display_name: str


@dataclass
class Like:
    person: str
    track_id: str
    added_at: str  # ISO 8601, UTC, "2024-05-01T12:00:00Z" as Spotify writes it


@dataclass
class Playlist:
    """A playlist made in the emulator's Spotify: kept in the file, so that the next night finds it."""

    playlist_id: str
    owner: str  # the person's name
    name: str
    description: str
    public: bool
    items: list[list[str]] = field(default_factory=list)  # [added_at, track id], in order
    snapshot: int = 1
    deleted: bool = False  # the owner deleted it: out of their library, still writable


@dataclass
class Library:
    """People, tracks (metadata and features) and who likes what."""

    seed: int
    people: list[Person]
    tracks: dict[str, dict]
    likes: list[Like]
    catalog_only: list[str] = field(default_factory=list)  # in the catalog, liked by nobody
    playlists: dict[str, Playlist] = field(default_factory=dict)  # by id

    # -- reading and writing ------------------------------------------------

    def save(self, path: Path | str) -> None:
        data = {
            "format": FORMAT,
            "seed": self.seed,
            "people": [vars(p) for p in self.people],
            "tracks": list(self.tracks.values()),
            "likes": [[like.person, like.track_id, like.added_at] for like in self.likes],
            "catalog_only": self.catalog_only,
            "playlists": [asdict(playlist) for playlist in self.playlists.values()],
        }
        Path(path).write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")

    @classmethod
    def load(cls, path: Path | str) -> Library:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise DataError(f"cannot read the library {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise DataError(f"{path} is not a sample library (invalid JSON: {exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DataError(
                f"{path} is not a sample library of format {FORMAT}; "
                "make one with: python -m emulator sample-library -o FILE"
            )
        return cls(
            seed=data["seed"],
            people=[Person(**p) for p in data["people"]],
            tracks={t["id"]: t for t in data["tracks"]},
            likes=[Like(*row) for row in data["likes"]],
            catalog_only=data.get("catalog_only", []),
            playlists={p["playlist_id"]: Playlist(**p) for p in data.get("playlists", [])},
        )

    # -- questions ------------------------------------------------------------

    def person(self, name: str) -> Person:
        for person in self.people:
            if person.name == name:
                return person
        raise DataError(f"no person {name!r} in the library; known: {', '.join(p.name for p in self.people)}")

    def likes_of(self, name: str) -> list[Like]:
        """A person's likes, newest first (ties keep the order they were added in)."""
        own = [like for like in self.likes if like.person == name]
        return sorted(own, key=lambda like: like.added_at, reverse=True)

    def owners(self) -> dict[str, set[str]]:
        """track id -> names of the people who like it."""
        found: dict[str, set[str]] = {}
        for like in self.likes:
            found.setdefault(like.track_id, set()).add(like.person)
        return found

    # -- changes (the emulator applies these while it runs) ---------------------

    def add_like(self, name: str, track_id: str, added_at: str | None = None) -> Like:
        self.person(name)
        if track_id not in self.tracks:
            raise DataError(f"no track {track_id!r} in the library")
        self.remove_like(name, track_id)
        like = Like(name, track_id, added_at or iso(dt.datetime.now(dt.UTC)))
        self.likes.append(like)
        return like

    def remove_like(self, name: str, track_id: str) -> bool:
        before = len(self.likes)
        self.likes = [like for like in self.likes if not (like.person == name and like.track_id == track_id)]
        return len(self.likes) != before

    def new_track(self, name: str, rng: np.random.Generator | None = None) -> dict:
        """A fresh song drawn from a person's taste, by artists they already like (as their
        liked songs are): 'new likes tonight' keep the artist structure the model learns from."""
        index = [p.name for p in self.people].index(name)
        rng = rng or np.random.default_rng(self.seed + len(self.tracks))
        centres = taste_centres(len(self.people), DEFAULT_SEPARATION, np.random.default_rng(self.seed))
        latent = centres[index] + rng.standard_normal(LATENT_DIMS)
        numbers = self._artists_for_new_song(name, rng)
        track = tracks_from_latent(latent[None, :], rng, len(self.tracks) + 1, artist_numbers=numbers)[0]
        while track["id"] in self.tracks:  # astronomically unlikely, but ids must stay unique
            track["id"] = random_ids(rng, 1)[0]
        self.tracks[track["id"]] = track
        return track

    def _artists_for_new_song(self, name: str, rng: np.random.Generator) -> np.ndarray | None:
        """(1, 3) artist numbers: the main artist of one of the person's liked songs, featured
        artists from all of theirs; None (random artists) when none of theirs is a sample artist."""
        songs = [
            numbers
            for like in self.likes_of(name)
            if (
                numbers := [
                    n for a in self.tracks[like.track_id].get("artists", []) if (n := artist_number(a)) is not None
                ]
            )
        ]
        if not songs:
            return None
        scene = [n for numbers in songs for n in numbers]
        main = songs[rng.integers(len(songs))][0]
        return np.array([[main, *(scene[i] for i in rng.integers(len(scene), size=2))]])

    # -- the catalog file -------------------------------------------------------

    def write_catalog(self, path: Path | str) -> int:
        """A CSV in the public "Spotify Tracks Dataset" columns; returns rows written."""
        rows = 0
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(("",) + CATALOG_COLUMNS)  # the public file starts with an index column
            for track_id, track in self.tracks.items():
                if "csv" not in track["known_by"]:
                    continue
                f = track["features"]
                writer.writerow(
                    (
                        rows,
                        track_id,
                        ";".join(a["name"] for a in track["artists"]),
                        (track.get("album") or {}).get("name", ""),
                        track["name"],
                        popularity(track_id),  # the same one ReccoBeats answers for the track
                        track["duration_ms"],
                        str(track["explicit"]),
                        f["danceability"],
                        f["energy"],
                        f["key"],
                        f["loudness"],
                        f["mode"],
                        f["speechiness"],
                        f["acousticness"],
                        f["instrumentalness"],
                        f["liveness"],
                        f["valence"],
                        f["tempo"],
                        f["time_signature"],
                        track["genre"],
                    )
                )
                rows += 1
        return rows


def iso(moment: dt.datetime) -> str:
    """Spotify's added_at format: UTC, whole seconds, a Z."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
