"""The feature vocabulary: every value a track can offer the model, in one table.

Each feature says its type, where it comes from (`audio`: a feature source,
kept in `audio_features`; `metadata`: the track itself, from /me/tracks),
whether it may be one-hot encoded, which feature sources send it, and the
signal group (`model.signals`) that switches it on or off. Config
validation, the sources' rows, the training SQL, the catalog check and the
store's columns all read this table, so they cannot drift apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

FEATURE_SOURCES = ("spotify", "reccobeats", "csv")
ORIGINS = ("audio", "metadata")
# The groups of signals the model can use, each switched in `model.signals`:
# the sound, who made the song (a lookup of the training songs, see taskcode.layers),
# and the track's own facts.
SIGNALS = ("audio", "artists", "metadata")


@dataclass(frozen=True)
class Feature:
    name: str
    kind: type  # float, int or bool
    origin: str  # one of ORIGINS
    categorical: bool = False  # may be one-hot encoded
    sources: tuple[str, ...] = ()  # the feature sources that send it
    in_catalog: bool = True  # a column of the catalog CSV
    signal: str = "audio"  # the group of model.signals it belongs to
    preprocessing: str = "standardize"  # how the model takes it when its group adds it
    optional: bool = False  # used only where the database has the column and some values

    def read(self, value) -> float | int | bool | None:
        """This feature's value from a source's raw field; None when it is not a usable number."""
        number = to_number(value)
        if number is None or self.kind is float:
            return number
        return self.kind(number)


_EVERY_SOURCE = FEATURE_SOURCES
_NOT_RECCOBEATS = ("spotify", "csv")  # ReccoBeats sends neither time_signature nor duration_ms

FEATURES = (
    Feature("danceability", float, "audio", sources=_EVERY_SOURCE),
    Feature("energy", float, "audio", sources=_EVERY_SOURCE),
    Feature("key", int, "audio", categorical=True, sources=_EVERY_SOURCE),
    Feature("loudness", float, "audio", sources=_EVERY_SOURCE),
    Feature("mode", int, "audio", categorical=True, sources=_EVERY_SOURCE),
    Feature("speechiness", float, "audio", sources=_EVERY_SOURCE),
    Feature("acousticness", float, "audio", sources=_EVERY_SOURCE),
    Feature("instrumentalness", float, "audio", sources=_EVERY_SOURCE),
    Feature("liveness", float, "audio", sources=_EVERY_SOURCE),
    Feature("valence", float, "audio", sources=_EVERY_SOURCE),
    Feature("tempo", float, "audio", sources=_EVERY_SOURCE),
    Feature("time_signature", int, "audio", categorical=True, sources=_NOT_RECCOBEATS),
    # The track has it too; a source's value, when sent, wins.
    Feature("duration_ms", int, "metadata", sources=_NOT_RECCOBEATS, preprocessing="log"),
    Feature("explicit", bool, "metadata", categorical=True, signal="metadata", preprocessing="one_hot"),
    Feature("release_year", int, "metadata", in_catalog=False, signal="metadata"),
    # Counted from the artist list.
    Feature("artist_count", int, "metadata", in_catalog=False, signal="metadata"),
    # 0-100, where a source gave it (Spotify's track object no longer does for new apps).
    Feature("popularity", int, "metadata", in_catalog=False, signal="metadata", optional=True),
)

BY_NAME = {feature.name: feature for feature in FEATURES}
FEATURE_NAMES = tuple(BY_NAME)
AUDIO_FEATURES = tuple(f.name for f in FEATURES if f.origin == "audio")
METADATA_FEATURES = tuple(f.name for f in FEATURES if f.origin == "metadata")
CATEGORICAL_FEATURES = tuple(f.name for f in FEATURES if f.categorical)
# What a feature source's row carries: the value columns of audio_features.
SOURCE_FEATURES = tuple(f.name for f in FEATURES if f.sources)
CATALOG_FEATURES = tuple(f.name for f in FEATURES if f.in_catalog)
# What `model.signals.metadata` adds to features.columns (a column listed there keeps its own preprocessing).
METADATA_SIGNALS = {f.name: f.preprocessing for f in FEATURES if f.signal == "metadata"}


def answered_by(source: str) -> tuple[str, ...]:
    """The features one feature source sends."""
    if source not in FEATURE_SOURCES:
        raise ValueError(f"unknown feature source {source!r}; known: {', '.join(FEATURE_SOURCES)}")
    return tuple(f.name for f in FEATURES if source in f.sources)


RECCOBEATS_FIELDS = answered_by("reccobeats")


def to_number(value) -> float | None:
    """A finite float from a number or numeric text; None for anything else.

    A bool counts as 0 or 1 (`explicit` arrives as one), so every reader gets
    the same number for the same value.
    """
    if isinstance(value, bool):
        return float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
