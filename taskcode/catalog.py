"""A local catalog file in the public "Spotify Tracks Dataset" columns.

People without access to Spotify's audio features download such a file
(114k tracks with features) and point `paths.catalog_csv` at it: it is a
feature source for liked songs and the pool that `discover` ranks.
"""

from __future__ import annotations

import functools
from pathlib import Path

from taskcode.errors import DataError

REQUIRED = (
    "track_id", "danceability", "energy", "key", "loudness", "mode", "speechiness",
    "acousticness", "instrumentalness", "liveness", "valence", "tempo",
)


@functools.lru_cache(maxsize=2)
def read_catalog(path: Path | str):
    """The catalog as a DataFrame indexed by track_id (read once per process)."""
    import pandas as pd

    path = Path(path)
    try:
        frame = pd.read_csv(path, low_memory=False)
    except FileNotFoundError:
        raise DataError(f"catalog file {path} not found; fix paths.catalog_csv or TASKCODE_CATALOG_CSV") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the catalog {path}: {exc}") from None
    missing = [column for column in REQUIRED if column not in frame.columns]
    if missing:
        raise DataError(f"catalog {path} lacks the column(s) {', '.join(missing)}; it needs {', '.join(REQUIRED)}")
    frame = frame.drop(columns=[c for c in frame.columns if c.startswith("Unnamed")])
    return frame.drop_duplicates("track_id").set_index("track_id")
