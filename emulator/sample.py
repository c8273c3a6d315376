"""`generate`: a deterministic sample library, the world the emulator, tests, demo and benchmarks share."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np

from emulator.library import Library, Like, Person, iso
from emulator.taste import DEFAULT_SEPARATION, FEATURE_SOURCES, Artists, taste_centres, tracks_from_latent
from taskcode.errors import DataError


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
    _check(people, tracks, overlap)
    rng = np.random.default_rng(seed)
    centres = taste_centres(people, separation, np.random.default_rng(seed))
    names = _person_names(people)

    own_per_person = tracks - int(round(tracks * overlap)) if people > 1 else tracks
    owner = np.repeat(np.arange(people), own_per_person)
    artists = Artists.draw(centres, own_per_person, seed, rng)
    extra_owner = rng.integers(0, people, catalog_extra)
    latent, artist_numbers = artists.songs_of(np.concatenate([owner, extra_owner]), rng)
    all_tracks = tracks_from_latent(latent, rng, serial_start=1, artist_numbers=artist_numbers)
    _assign_sources(all_tracks, rng, unknown_features, spotify_coverage, reccobeats_coverage, csv_coverage)

    liked_tracks = all_tracks[: len(owner)]
    catalog = all_tracks[len(owner) :]
    for track in catalog:
        track["known_by"] = sorted(set(track["known_by"]) | {"csv"})

    liked_by = _liked_by(owner, people, tracks - own_per_person, rng)
    now = now or dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
    likes = []
    for person, indices in enumerate(liked_by):
        order = rng.permutation(len(indices))
        stamps = _added_at_stamps(len(indices), rng, now)
        for position, index in enumerate(order):
            likes.append(Like(names[person], liked_tracks[indices[index]]["id"], stamps[position]))

    people_rows = [
        Person(name=name, user_id=f"synthetic-{name}-{seed}", display_name=_display_name(name)) for name in names
    ]
    return Library(
        seed=seed,
        people=people_rows,
        tracks={t["id"]: t for t in all_tracks},
        likes=likes,
        catalog_only=[t["id"] for t in catalog],
    )


EXPORT_FILE = "YourLibrary.json"  # its name inside "Download your data"'s zip, under "Spotify Account Data/"


def write_exports(library: Library, folder: Path | str) -> dict[str, Path]:
    """Each person's likes as Spotify's account data export writes them: FOLDER/NAME/YourLibrary.json.

    The export names each song by its first artist, album, title and URI, and
    gives no date a song was liked.
    """
    written = {}
    for person in library.people:
        tracks = []
        for like in library.likes_of(person.name):
            track = library.tracks[like.track_id]
            artists = track.get("artists") or [{}]
            tracks.append(
                {
                    "artist": artists[0].get("name", ""),
                    "album": (track.get("album") or {}).get("name", ""),
                    "track": track["name"],
                    "uri": f"spotify:track:{like.track_id}",
                }
            )
        export = {"tracks": tracks, "albums": [], "shows": [], "episodes": [], "bannedTracks": [], "artists": []}
        path = Path(folder) / person.name / EXPORT_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(export, ensure_ascii=False, indent=2), encoding="utf-8")
        written[person.name] = path
    return written


def _check(people: int, tracks: int, overlap: float) -> None:
    """The arguments' limits, named as the CLI's options (sample-library passes them through)."""
    if people < 1:
        raise DataError("sample-library: --people must be at least 1")
    if tracks < 1:
        raise DataError("sample-library: --tracks must be at least 1")
    if not 0 <= overlap < 1:
        raise DataError("sample-library: --overlap must be in [0, 1)")


def _liked_by(owner: np.ndarray, people: int, shared: int, rng: np.random.Generator) -> list[list[int]]:
    """Who likes what (indices into the liked songs): own songs, plus `shared` songs of others."""
    liked_by: list[list[int]] = [[] for _ in range(people)]
    for index, person in enumerate(owner):
        liked_by[person].append(index)
    if people > 1:
        for person in range(people):
            others = np.flatnonzero(owner != person)
            picks = rng.choice(others, size=min(shared, len(others)), replace=False)
            liked_by[person].extend(int(i) for i in picks)
    return liked_by


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
        if track["known_by"] == ["spotify"]:  # a song some source knows is known to a source a 2026 app can ask
            track["known_by"].append("csv")


def _added_at_stamps(count: int, rng: np.random.Generator, now: dt.datetime) -> list[str]:
    """Newest first, over about six years, with runs of equal stamps (an album liked at once)."""
    seconds = np.sort(rng.uniform(0, 6 * 365 * 86400, count))  # seconds before `now`
    stamps = []
    for i, ago in enumerate(seconds):
        if i and rng.random() < 0.03:
            stamps.append(stamps[-1])  # a tie with the previous (newer) like
        else:
            stamps.append(iso(now - dt.timedelta(seconds=int(ago) + 1)))
    return stamps


def _person_names(count: int) -> list[str]:
    base = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
    if count <= len(base):
        return base[:count]
    return [f"{base[i % len(base)]}{i // len(base) + 1 if i >= len(base) else ''}" for i in range(count)]


def _display_name(name: str) -> str:
    return {"alice": "Alice Ångström", "bob": "Bob Núñez"}.get(name, name.capitalize())
