"""The taste model behind the sample library: people, their artists, and songs drawn around both.

Every person has a centre in a small latent space. Each person follows a few
artists, and an artist has a characteristic sound: a centre near the
person's, around which that artist's songs are drawn. So a person likes
several songs of the same artists, as real liked-songs lists do, and a few
artists are liked by everyone (their centre lies between the people's). The
points are turned into Spotify-like audio features: a classifier can learn
whose song it is from the sound alone, but not perfectly; who made the song
tells more. Ids and names are synthetic ("Synthetic …"), clearly not real songs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

FEATURE_SOURCES = ("spotify", "reccobeats", "csv")
# Latent taste dimensions and the distance between two people's taste centres
# (in units of the songs' spread around their person). Calibrated in bench/README.md.
LATENT_DIMS = 6
DEFAULT_SEPARATION = 2.0
# A song = its person's centre + its artist's offset + its own; the two spreads
# add up to the unit spread the separation is measured in.
ARTIST_SPREAD = 0.75
SONG_SPREAD = 0.66
SONGS_PER_ARTIST = 4  # on average, of one person's liked songs
SHARED_ARTISTS = 0.08  # of the songs: by artists every person likes

_BASE62 = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))
_WORDS_A = (
    "Velvet",
    "Paper",
    "Neon",
    "Quiet",
    "Electric",
    "Golden",
    "Broken",
    "Midnight",
    "Silver",
    "Hollow",
    "Crimson",
    "Gentle",
    "Restless",
    "Frozen",
    "Wild",
    "Distant",
    "Café",
    "Señora",
    "Über",
    "Ångström",
    "Tōkyō",
    "Zürich",
    "Smörgås",
    "Déjà",
)
_WORDS_B = (
    "Harbor",
    "Engine",
    "Garden",
    "Signal",
    "River",
    "Machine",
    "Letters",
    "Summer",
    "Echo",
    "Mirror",
    "Highway",
    "Lanterns",
    "Static",
    "Orbit",
    "Weather",
    "Island",
    "Lullaby",
    "Parade",
    "Satellite",
    "Window",
    "Fever",
    "Compass",
    "Ballad",
    "Drift",
)
_INTEGER = ("key", "mode", "time_signature")
_GENRES = ("synth-pop", "synth-rock", "synth-folk", "synth-jazz", "synth-hop", "synth-ambient")


def taste_centres(people: int, separation: float, rng: np.random.Generator) -> np.ndarray:
    """Centres spread on a sphere; two people end up exactly `separation` apart."""
    directions = rng.standard_normal((people, LATENT_DIMS))
    if people == 2:
        directions[1] = -directions[0]
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return directions * (separation / 2)


def _audio_features(z: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Spotify's audio features of latent points (`key`, `mode`, `time_signature` included)."""
    n = len(z)
    noise = lambda scale=0.35: rng.normal(0, scale, n)  # noqa: E731 - tiny local helper
    sig = _sigmoid

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
    return {**features, "key": key, "mode": mode, "time_signature": time_signature}


@dataclass(frozen=True)
class Artists:
    """Everyone's artists: a centre each, and which of them each person follows."""

    centres: np.ndarray  # (artists, LATENT_DIMS)
    numbers: np.ndarray  # the artist's number, for its id and name
    own: list[np.ndarray]  # per person: indices of their own artists
    shared: np.ndarray  # indices of the artists everyone likes

    @classmethod
    def draw(cls, centres: np.ndarray, songs: int, seed: int, rng: np.random.Generator) -> Artists:
        people = len(centres)
        per_person = max(3, songs // SONGS_PER_ARTIST)
        n_shared = max(1, round(per_person * SHARED_ARTISTS)) if people > 1 else 0
        middle = centres.mean(axis=0)
        owners = [*np.repeat(np.arange(people), per_person)]
        artist_centres = np.vstack(
            [centres[owners], np.repeat(middle[None, :], n_shared, axis=0)]
        ) + ARTIST_SPREAD * rng.standard_normal((len(owners) + n_shared, LATENT_DIMS))
        own = [np.arange(p * per_person, (p + 1) * per_person) for p in range(people)]
        numbers = seed * 100_000 + np.arange(len(artist_centres))
        return cls(artist_centres, numbers, own, np.arange(len(owners), len(owners) + n_shared))

    def songs_of(self, person: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(latent points, artist numbers (n, 3)) of songs liked by `person` (one entry a song)."""
        n = len(person)
        shared = rng.random(n) < (SHARED_ARTISTS if len(self.shared) else 0)
        artists = np.empty((n, 3), dtype=int)
        for i, p in enumerate(person):
            pool = self.shared if shared[i] else self.own[p]
            artists[i, 0] = rng.choice(pool)
            artists[i, 1:] = rng.choice(self.own[p], 2)  # featured artists: the person's scene
        latent = self.centres[artists[:, 0]] + SONG_SPREAD * rng.standard_normal((n, LATENT_DIMS))
        return latent, self.numbers[artists]


def tracks_from_latent(
    latent: np.ndarray, rng: np.random.Generator, serial_start: int, artist_numbers: np.ndarray | None = None
) -> list[dict]:
    """Turn latent taste points into Spotify-shaped tracks with audio features.

    `artist_numbers` (n, 3): each song's artists, the first the main one;
    without them a song's artists are drawn at random.
    """
    n, z, sig = len(latent), latent, _sigmoid
    features = _audio_features(z, rng)
    duration = np.clip(rng.normal(215_000 + 25_000 * z[:, 4], 45_000), 60_000, 900_000).astype(int)
    explicit = rng.random(n) < sig(1.2 * z[:, 5] - 1.5)
    year = np.clip((2012 + 5 * z[:, 2] + rng.normal(0, 6, n)).astype(int), 1960, 2026)
    artist_count = rng.choice([1, 1, 1, 1, 2, 2, 3], size=n)
    ids = random_ids(rng, n)
    artist_pool = max(20, n // 4)
    words_a, words_b = rng.integers(0, len(_WORDS_A), (2, n)), rng.integers(0, len(_WORDS_B), (2, n))
    if artist_numbers is None:
        artist_numbers = rng.integers(0, artist_pool, (n, 3))
    genres = np.array(_GENRES)[np.argmax(z[:, : len(_GENRES)], axis=1)]

    rows = []
    for i in range(n):
        serial = serial_start + i
        artists = [
            {"id": stable_id("artist", int(a)), "name": f"Synthetic Artist {int(a)}"}
            for a in dict.fromkeys(artist_numbers[i, : artist_count[i]])  # a name once per song
        ]
        album_number = int(artist_numbers[i, 0]) * 7 + int(year[i]) % 7
        rows.append(
            {
                "id": str(ids[i]),
                "name": f"{_WORDS_A[words_a[0, i]]} {_WORDS_B[words_b[0, i]]} (Synthetic {serial})",
                "artists": artists,
                "album": {
                    "id": stable_id("album", album_number),
                    "name": f"Synthetic Album {_WORDS_A[words_a[1, i]]} {_WORDS_B[words_b[1, i]]}",
                    "release_date": f"{int(year[i])}-{1 + serial % 12:02d}-{1 + serial % 28:02d}",
                    "release_date_precision": "day",
                },
                "duration_ms": int(duration[i]),
                "explicit": bool(explicit[i]),
                "genre": str(genres[i]),
                "features": {
                    **{name: round(float(values[i]), 4) for name, values in features.items() if name not in _INTEGER},
                    **{name: int(features[name][i]) for name in _INTEGER},
                },
                "known_by": list(FEATURE_SOURCES),
            }
        )
    return rows


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def random_ids(rng: np.random.Generator, count: int) -> np.ndarray:
    """22-character base62 ids, like Spotify's."""
    chars = _BASE62[rng.integers(0, 62, (count, 22))]
    return np.array(["".join(row) for row in chars])


def artist_number(artist: dict) -> int | None:
    """The number of a sample artist ("Synthetic Artist N" with its stable id); None for any other."""
    prefix, _, number = str(artist.get("name", "")).rpartition(" ")
    if prefix != "Synthetic Artist" or not number.isdigit():
        return None
    return int(number) if artist.get("id") == stable_id("artist", int(number)) else None


def stable_id(kind: str, number: int) -> str:
    """The same artist or album always gets the same 22-character id."""
    value = int.from_bytes(hashlib.blake2b(f"{kind}:{number}".encode(), digest_size=16).digest(), "big")
    digits = []
    for _ in range(22):
        value, rest = divmod(value, 62)
        digits.append(str(_BASE62[rest]))
    return "".join(digits)
