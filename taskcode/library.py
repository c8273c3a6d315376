"""The sample library: a deterministic, synthetic world of people and songs.

No machine here reaches Spotify, so the emulator, the tests, the demo and the
benchmarks all serve this library instead. Every person has a *taste*: a
centre in a small latent space. A song liked by a person is drawn around that
centre and turned into Spotify-like audio features, so a classifier can learn
whose song it is, but the tastes overlap enough that it cannot be perfect
(a good model reaches F1 around 0.8 for two people; chance is 0.5).

Ids and names are synthetic ("Synthetic …"), clearly not real songs.

The file is our own JSON format (`format: 1`); the emulator turns its rows
into the shapes Spotify answers with.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from taskcode.catalog import CATALOG_COLUMNS
from taskcode.errors import DataError

FORMAT = 1
FEATURE_SOURCES = ("spotify", "reccobeats", "csv")
# Latent taste dimensions and the distance between two people's taste centres
# (in units of the songs' spread). Calibrated on 2 x 5,000 songs: a logistic
# regression and a small MLP on the audio features both reach macro-F1 0.81.
LATENT_DIMS = 6
DEFAULT_SEPARATION = 2.0

_BASE62 = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))
_WORDS_A = (
    "Velvet", "Paper", "Neon", "Quiet", "Electric", "Golden", "Broken", "Midnight",
    "Silver", "Hollow", "Crimson", "Gentle", "Restless", "Frozen", "Wild", "Distant",
    "Café", "Señora", "Über", "Ångström", "Tōkyō", "Zürich", "Smörgås", "Déjà",
)
_WORDS_B = (
    "Harbor", "Engine", "Garden", "Signal", "River", "Machine", "Letters", "Summer",
    "Echo", "Mirror", "Highway", "Lanterns", "Static", "Orbit", "Weather", "Island",
    "Lullaby", "Parade", "Satellite", "Window", "Fever", "Compass", "Ballad", "Drift",
)
_GENRES = ("synth-pop", "synth-rock", "synth-folk", "synth-jazz", "synth-hop", "synth-ambient")


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
class Library:
    """People, tracks (metadata and features) and who likes what."""

    seed: int
    people: list[Person]
    tracks: dict[str, dict]
    likes: list[Like]
    catalog_only: list[str] = field(default_factory=list)  # in the catalog, liked by nobody

    # -- reading and writing ------------------------------------------------

    def save(self, path: Path | str) -> None:
        data = {
            "format": FORMAT,
            "seed": self.seed,
            "people": [vars(p) for p in self.people],
            "tracks": list(self.tracks.values()),
            "likes": [[like.person, like.track_id, like.added_at] for like in self.likes],
            "catalog_only": self.catalog_only,
        }
        Path(path).write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")

    @classmethod
    def load(cls, path: Path | str) -> "Library":
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
                "make one with: python -m taskcode sample-library -o FILE"
            )
        return cls(
            seed=data["seed"],
            people=[Person(**p) for p in data["people"]],
            tracks={t["id"]: t for t in data["tracks"]},
            likes=[Like(*row) for row in data["likes"]],
            catalog_only=data.get("catalog_only", []),
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
        like = Like(name, track_id, added_at or _iso(dt.datetime.now(dt.timezone.utc)))
        self.likes.append(like)
        return like

    def remove_like(self, name: str, track_id: str) -> bool:
        before = len(self.likes)
        self.likes = [l for l in self.likes if not (l.person == name and l.track_id == track_id)]
        return len(self.likes) != before

    def new_track(self, name: str, rng: np.random.Generator | None = None) -> dict:
        """A fresh song drawn from a person's taste (for 'new likes tonight' tests)."""
        index = [p.name for p in self.people].index(name)
        rng = rng or np.random.default_rng(self.seed + len(self.tracks))
        centres = _taste_centres(len(self.people), DEFAULT_SEPARATION, np.random.default_rng(self.seed))
        latent = centres[index] + rng.standard_normal(LATENT_DIMS)
        track = _tracks_from_latent(latent[None, :], rng, serial_start=len(self.tracks) + 1)[0]
        while track["id"] in self.tracks:  # astronomically unlikely, but ids must stay unique
            track["id"] = _random_ids(rng, 1)[0]
        self.tracks[track["id"]] = track
        return track

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
                writer.writerow((
                    rows, track_id, ";".join(a["name"] for a in track["artists"]),
                    (track.get("album") or {}).get("name", ""), track["name"], 0,
                    track["duration_ms"], str(track["explicit"]), f["danceability"],
                    f["energy"], f["key"], f["loudness"], f["mode"], f["speechiness"],
                    f["acousticness"], f["instrumentalness"], f["liveness"], f["valence"],
                    f["tempo"], f["time_signature"], track["genre"],
                ))
                rows += 1
        return rows


# --------------------------------------------------------------------------
# Generation


def generate(
    *,
    people: int = 2,
    tracks: int = 1000,
    overlap: float = 0.1,
    seed: int = 7,
    separation: float = DEFAULT_SEPARATION,
    catalog_extra: int = 0,
    unknown_features: float = 0.02,
    spotify_coverage: float = 0.9,
    reccobeats_coverage: float = 0.9,
    csv_coverage: float = 0.95,
    now: dt.datetime | None = None,
) -> Library:
    """A deterministic library: same arguments, same bytes.

    `tracks` is the number of likes per person; a fraction `overlap` of each
    person's likes is also liked by another person (shared songs). Each track
    is known to each feature source with the given coverage, and a fraction
    `unknown_features` is known to none (as happens with obscure releases).
    """
    if people < 1:
        raise DataError("sample-library: --people must be at least 1")
    if tracks < 1:
        raise DataError("sample-library: --tracks must be at least 1")
    if not 0 <= overlap < 1:
        raise DataError("sample-library: --overlap must be in [0, 1)")
    rng = np.random.default_rng(seed)
    centres = _taste_centres(people, separation, np.random.default_rng(seed))
    names = _person_names(people)

    own_per_person = tracks - int(round(tracks * overlap)) if people > 1 else tracks
    owner = np.repeat(np.arange(people), own_per_person)
    latent = centres[owner] + rng.standard_normal((len(owner), LATENT_DIMS))
    extra_owner = rng.integers(0, people, catalog_extra)
    extra_latent = centres[extra_owner] + rng.standard_normal((catalog_extra, LATENT_DIMS))
    all_tracks = _tracks_from_latent(np.vstack([latent, extra_latent]), rng, serial_start=1)
    _assign_sources(all_tracks, rng, unknown_features, spotify_coverage, reccobeats_coverage, csv_coverage)

    liked_tracks = all_tracks[: len(owner)]
    catalog = all_tracks[len(owner):]
    for track in catalog:
        track["known_by"] = sorted(set(track["known_by"]) | {"csv"})

    # Who likes what: own songs, plus songs of others (the shared ones).
    liked_by: list[list[int]] = [[] for _ in range(people)]
    for index, person in enumerate(owner):
        liked_by[person].append(index)
    if people > 1:
        shared = tracks - own_per_person
        for person in range(people):
            others = np.flatnonzero(owner != person)
            picks = rng.choice(others, size=min(shared, len(others)), replace=False)
            liked_by[person].extend(int(i) for i in picks)

    now = now or dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc)
    likes = []
    for person, indices in enumerate(liked_by):
        order = rng.permutation(len(indices))
        stamps = _added_at_stamps(len(indices), rng, now)
        for position, index in enumerate(order):
            likes.append(Like(names[person], liked_tracks[indices[index]]["id"], stamps[position]))

    people_rows = [
        Person(name=name, user_id=f"synthetic-{name}-{seed}", display_name=_display_name(name))
        for name in names
    ]
    return Library(
        seed=seed,
        people=people_rows,
        tracks={t["id"]: t for t in all_tracks},
        likes=likes,
        catalog_only=[t["id"] for t in catalog],
    )


def _taste_centres(people: int, separation: float, rng: np.random.Generator) -> np.ndarray:
    """Centres spread on a sphere; two people end up exactly `separation` apart."""
    directions = rng.standard_normal((people, LATENT_DIMS))
    if people == 2:
        directions[1] = -directions[0]
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return directions * (separation / 2)


def _tracks_from_latent(latent: np.ndarray, rng: np.random.Generator, serial_start: int) -> list[dict]:
    """Turn latent taste points into Spotify-shaped tracks with audio features."""
    n = len(latent)
    z = latent
    noise = lambda scale=0.35: rng.normal(0, scale, n)  # noqa: E731 - tiny local helper
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731

    features = {
        "danceability": sig(0.9 * z[:, 0] + noise()),
        "energy": sig(0.9 * z[:, 1] + noise()),
        "valence": sig(0.8 * z[:, 2] + 0.3 * z[:, 0] + noise()),
        "acousticness": sig(-0.7 * z[:, 1] + 0.7 * z[:, 3] + noise()),
        "instrumentalness": sig(1.5 * z[:, 4] - 2.5 + noise()),
        "speechiness": 0.02 + 0.5 * sig(1.2 * z[:, 5] - 2.5 + noise()),
        "liveness": 0.05 + 0.7 * sig(0.6 * z[:, 3] - 1.5 + noise(0.6)),
        "loudness": np.clip(-9 + 3.5 * z[:, 1] + noise(1.5), -40, 0),
        "tempo": np.clip(118 + 18 * z[:, 0] + 8 * z[:, 5] + noise(12), 55, 210),
    }
    mode = (rng.random(n) < sig(0.8 * z[:, 2])).astype(int)
    key = (np.floor((z[:, 3] * 2.5 + rng.normal(0, 2.5, n)) % 12)).astype(int)
    key[rng.random(n) < 0.01] = -1  # Spotify sends -1 when no key was detected
    time_signature = rng.choice([3, 4, 4, 4, 4, 4, 4, 5, 1, 7], size=n)
    duration = np.clip(rng.normal(215_000 + 25_000 * z[:, 4], 45_000), 60_000, 900_000).astype(int)
    explicit = rng.random(n) < sig(1.2 * z[:, 5] - 1.5)
    year = np.clip((2012 + 5 * z[:, 2] + rng.normal(0, 6, n)).astype(int), 1960, 2026)
    artist_count = rng.choice([1, 1, 1, 1, 2, 2, 3], size=n)
    ids = _random_ids(rng, n)
    artist_pool = max(20, n // 4)
    words_a, words_b = rng.integers(0, len(_WORDS_A), (2, n)), rng.integers(0, len(_WORDS_B), (2, n))
    artist_numbers = rng.integers(0, artist_pool, (n, 3))
    genres = np.array(_GENRES)[np.argmax(z[:, :len(_GENRES)], axis=1)]

    rows = []
    for i in range(n):
        serial = serial_start + i
        artists = [
            {"id": _stable_id("artist", int(a)), "name": f"Synthetic Artist {int(a)}"}
            for a in artist_numbers[i, : artist_count[i]]
        ]
        album_number = int(artist_numbers[i, 0]) * 7 + int(year[i]) % 7
        rows.append({
            "id": str(ids[i]),
            "name": f"{_WORDS_A[words_a[0, i]]} {_WORDS_B[words_b[0, i]]} (Synthetic {serial})",
            "artists": artists,
            "album": {
                "id": _stable_id("album", album_number),
                "name": f"Synthetic Album {_WORDS_A[words_a[1, i]]} {_WORDS_B[words_b[1, i]]}",
                "release_date": f"{int(year[i])}-{1 + serial % 12:02d}-{1 + serial % 28:02d}",
                "release_date_precision": "day",
            },
            "duration_ms": int(duration[i]),
            "explicit": bool(explicit[i]),
            "genre": str(genres[i]),
            "features": {
                **{name: round(float(values[i]), 4) for name, values in features.items()},
                "key": int(key[i]),
                "mode": int(mode[i]),
                "time_signature": int(time_signature[i]),
            },
            "known_by": list(FEATURE_SOURCES),
        })
    return rows


def _assign_sources(tracks, rng, unknown, spotify, reccobeats, csv_cov) -> None:
    n = len(tracks)
    knows = {
        "spotify": rng.random(n) < spotify,
        "reccobeats": rng.random(n) < reccobeats,
        "csv": rng.random(n) < csv_cov,
    }
    nobody = rng.random(n) < unknown
    for i, track in enumerate(tracks):
        track["known_by"] = [] if nobody[i] else [s for s in FEATURE_SOURCES if knows[s][i]]


def _added_at_stamps(count: int, rng: np.random.Generator, now: dt.datetime) -> list[str]:
    """Newest first, over about six years, with runs of equal stamps (an album liked at once)."""
    seconds = np.sort(rng.uniform(0, 6 * 365 * 86400, count))  # seconds before `now`
    stamps = []
    for i, ago in enumerate(seconds):
        if i and rng.random() < 0.03:
            stamps.append(stamps[-1])  # a tie with the previous (newer) like
        else:
            stamps.append(_iso(now - dt.timedelta(seconds=int(ago) + 1)))
    return stamps


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _random_ids(rng: np.random.Generator, count: int) -> np.ndarray:
    """22-character base62 ids, like Spotify's."""
    chars = _BASE62[rng.integers(0, 62, (count, 22))]
    return np.array(["".join(row) for row in chars])


def _stable_id(kind: str, number: int) -> str:
    """The same artist or album always gets the same 22-character id."""
    value = int.from_bytes(hashlib.blake2b(f"{kind}:{number}".encode(), digest_size=16).digest(), "big")
    digits = []
    for _ in range(22):
        value, rest = divmod(value, 62)
        digits.append(str(_BASE62[rest]))
    return "".join(digits)


def _person_names(count: int) -> list[str]:
    base = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
    if count <= len(base):
        return base[:count]
    return [f"{base[i % len(base)]}{i // len(base) + 1 if i >= len(base) else ''}" for i in range(count)]


def _display_name(name: str) -> str:
    return {"alice": "Alice Ångström", "bob": "Bob Núñez"}.get(name, name.capitalize())


# --------------------------------------------------------------------------
# Straight into the database


def load_into_database(conn, library: Library, *, with_features: bool = True) -> None:
    """Write the library as a first sync would, without HTTP.

    For tests of later stages (model, map, dashboard) and for benchmarks:
    the same rows through the same upserts, in one transaction. Features get
    the first source that knows the track, as the fallback order would.
    """
    from taskcode import store
    from taskcode.db import transaction
    from taskcode.items import SavedTrack, parse_timestamp

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
            store.upsert_features(cur, (
                {"track_id": t["id"], "source": t["known_by"][0], "duration_ms": t["duration_ms"],
                 **t["features"]}
                for t in liked if t["known_by"]
            ))


def track_row(track: dict):
    """A library track as the row a sync stores for it."""
    from taskcode.items import TrackRow

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
    )
