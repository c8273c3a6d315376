"""The catalog CSV: songs in either public layout, read as one.

Two stages read it: `discover` ranks its songs for a person, and the csv
feature source takes audio features from it for tracks Spotify no longer
describes. Two public files fit: the "Spotify Tracks Dataset" (`track_id`,
`track_name`, `album_name`, artists as "A;B") and the "1.2M songs"
`tracks_features.csv` (`id`, `name`, `album`, artists as "['A', 'B']", a
`year`); the second is renamed into the first on reading, so the stages see
one layout. The file is read in one go and checked once, so a wrong file
fails with one line naming the missing columns, not deep inside a stage.
A song is matched by Spotify id, then by ISRC when the file has an `isrc`
column (a release Spotify relinked keeps its ISRC under a new id).
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd

from taskcode.errors import ConfigError, DataError
from taskcode.items import isrc_from
from taskcode.schema import AUDIO_FEATURES, CATALOG_FEATURES, FEATURE_NAMES, METADATA_FEATURES

# The columns of the public dataset (it also starts with an unnamed index column).
CATALOG_COLUMNS = (
    "track_id",
    "artists",
    "album_name",
    "track_name",
    "popularity",
    "duration_ms",
    "explicit",
    "danceability",
    "energy",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "time_signature",
    "track_genre",
)
# The track's own columns, then its audio features (the order a missing-columns message lists them).
REQUIRED_COLUMNS = (
    "track_id",
    "artists",
    "track_name",
    *(name for name in METADATA_FEATURES if name in CATALOG_FEATURES),
    *(name for name in AUDIO_FEATURES if name in CATALOG_FEATURES),
)
# The "1.2M songs" tracks_features.csv: its names of the same columns (it has a `year`, no genre or popularity).
MILLION_SONGS_NAMES = {"id": "track_id", "name": "track_name", "album": "album_name", "year": "release_year"}


def read_catalog(path: Path | str) -> pd.DataFrame:
    """The catalog indexed by track_id (first row of a repeated id wins), in the Tracks Dataset's names."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype={"track_id": str, "id": str, "isrc": str})
    except FileNotFoundError:  # a bad config value, found when a stage first needs the file
        raise ConfigError(
            f"config: catalog {path} does not exist; fix paths.catalog_csv (or TASKCODE_CATALOG_CSV)"
        ) from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"cannot read the catalog {path}: {first}") from None
    million = "track_id" not in frame.columns and "id" in frame.columns
    if million:
        frame = frame.rename(columns=MILLION_SONGS_NAMES)
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        own_name = {ours: theirs for theirs, ours in MILLION_SONGS_NAMES.items()} if million else {}
        raise DataError(
            f"catalog {path} lacks the column(s) {', '.join(own_name.get(c, c) for c in missing)}; "
            "it must have the columns of the public 'Spotify Tracks Dataset' (track_id, track_name, …) "
            "or of the '1.2M songs' tracks_features.csv (id, name, …)"
        )
    frame = frame.drop(columns=[c for c in frame.columns if c.startswith("Unnamed:") or c == ""])
    if million:
        frame["artists"] = frame["artists"].map(_artists_as_text)
    if "isrc" in frame.columns:
        frame["isrc"] = frame["isrc"].map(isrc_from)
    frame = frame.dropna(subset=["track_id"]).drop_duplicates(subset="track_id")
    return frame.set_index("track_id")


def _artists_as_text(value) -> str | None:
    """ "['A', 'B']" (a Python list written as text) to "A;B", the other layout's form."""
    if not isinstance(value, str) or not value.startswith("["):
        return value if isinstance(value, str) else None
    try:
        names = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value.strip("[]")
    return ";".join(str(name) for name in names) if isinstance(names, (list, tuple)) else str(names)


def catalog_rows(catalog: pd.DataFrame, track_ids: list[str], isrcs: dict[str, str]) -> pd.DataFrame:
    """The catalog rows of these tracks, indexed by our track ids: by Spotify id, then by ISRC."""
    found = catalog.loc[catalog.index.intersection(track_ids)]
    if "isrc" not in catalog.columns or not isrcs:
        return found
    by_isrc = catalog["isrc"].dropna()
    first_id = pd.Series(by_isrc.index, index=by_isrc.to_numpy())
    first_id = first_id[~first_id.index.duplicated()]
    matched = {
        track_id: first_id[isrcs[track_id]]
        for track_id in track_ids
        if track_id not in found.index and isrcs.get(track_id) in first_id.index
    }
    if not matched:
        return found
    extra = catalog.loc[list(matched.values())].set_axis(pd.Index(list(matched), name=catalog.index.name))
    return pd.concat([found, extra])


def catalog_features(catalog: pd.DataFrame) -> pd.DataFrame:
    """The model's raw feature columns (FEATURE_NAMES, floats, NaN = unknown) of catalog rows.

    The Tracks Dataset has no release year (NaN: the model fills it in; the
    1.2M songs' `year` is one) and names artists as "A;B", which gives the
    artist count.
    """
    features = pd.DataFrame(index=catalog.index)
    for name in FEATURE_NAMES:
        if name in catalog.columns:
            features[name] = pd.to_numeric(catalog[name], errors="coerce").astype("float64")
        else:
            features[name] = np.nan
    explicit = catalog["explicit"].astype(str).str.strip().str.lower()
    features["explicit"] = explicit.map({"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0})
    features["artist_count"] = (
        catalog["artists"]
        .fillna("")
        .astype(str)
        .map(lambda text: float(len([a for a in text.split(";") if a.strip()])) or np.nan)
    )
    return features
