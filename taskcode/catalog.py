"""The catalog CSV: songs in the public "Spotify Tracks Dataset" format.

Two stages read it: `discover` ranks its songs for a person, and the csv
feature source takes audio features from it for tracks Spotify no longer
describes. The file is read in one go and checked once, so a wrong file
fails with one line naming the missing columns, not deep inside a stage.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from taskcode.errors import ConfigError, DataError
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


def read_catalog(path: Path | str) -> pd.DataFrame:
    """The catalog indexed by track_id (first row of a repeated id wins)."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype={"track_id": str})
    except FileNotFoundError:  # a bad config value, found when a stage first needs the file
        raise ConfigError(
            f"config: catalog {path} does not exist; fix paths.catalog_csv (or TASKCODE_CATALOG_CSV)"
        ) from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"cannot read the catalog {path}: {first}") from None
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise DataError(
            f"catalog {path} lacks the column(s) {', '.join(missing)}; "
            "it must have the columns of the public 'Spotify Tracks Dataset'"
        )
    frame = frame.drop(columns=[c for c in frame.columns if c.startswith("Unnamed:") or c == ""])
    frame = frame.dropna(subset=["track_id"]).drop_duplicates(subset="track_id")
    return frame.set_index("track_id")


def catalog_features(catalog: pd.DataFrame) -> pd.DataFrame:
    """The model's raw feature columns (FEATURE_NAMES, floats, NaN = unknown) of catalog rows.

    The catalog has no release year (NaN: the model fills it in) and names
    artists as "A;B", which gives the artist count.
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
