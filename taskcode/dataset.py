"""Training data from PostgreSQL: features, labels, a stable split, a fingerprint.

Why each piece is here:
- A song's label is the one person who currently likes it. Songs liked by
  several people are "shared": they would teach the model two answers for the
  same input, so they stay out of training and evaluation (the map shows them).
- A song's split (train / validation / test) comes from a hash of its id, not
  from a random shuffle, so it never changes from one night to the next:
  tonight's test set holds last night's test songs plus new ones, and a song
  the model trained on can never sneak into the test set later.
- The fingerprint sums up everything a model is trained from (songs, labels,
  feature values, config). Same fingerprint as the champion: nothing new to
  learn, the nightly training can be skipped.

Plain pandas and SQL only: the map stage and the dashboard use
`feature_frame` without importing TensorFlow.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from taskcode.config import Settings
from taskcode.db import transaction
from taskcode.errors import DataError
from taskcode.schema import BY_NAME, FEATURE_NAMES, FEATURES, METADATA_SIGNALS, Feature

log = logging.getLogger(__name__)
SPLITS = ("train", "validation", "test")

# SQL for the features that are not a column of `tracks` under their own name.
_DERIVED = {"artist_count": "NULLIF(cardinality(t.artists), 0)"}  # empty list: not sent, so NULL


def _select(feature: Feature, track_columns: frozenset[str]) -> str:
    """How one feature is read: audio ones from audio_features (f), metadata ones from
    tracks (t); a source's value, when it sent one, wins over the track's. An optional
    feature whose column this database lacks reads as NULL."""
    name = feature.name
    if name in _DERIVED:
        expression = _DERIVED[name]
    elif feature.origin == "audio":
        expression = f"f.{name}"
    elif feature.optional and name not in track_columns:
        expression = "NULL::double precision"
    elif feature.sources:
        expression = f"COALESCE(f.{name}, t.{name})"
    else:
        expression = f"t.{name}::int" if feature.kind is bool else f"t.{name}"
    return f"{expression} AS {name}"


_COMMA = ",\n       "


@functools.lru_cache(maxsize=4)
def _feature_sql(track_columns: frozenset[str]) -> str:
    """One row per track that has audio features, with its artists and who likes it now."""
    return f"""
SELECT f.track_id,
       {_COMMA.join(_select(feature, track_columns) for feature in FEATURES)},
       t.artist_ids,
       COALESCE(array_agg(p.name ORDER BY p.name) FILTER (WHERE p.name IS NOT NULL),
                '{{}}') AS owners
  FROM audio_features f
  JOIN tracks t ON t.track_id = f.track_id
  LEFT JOIN likes l ON l.track_id = f.track_id AND l.removed_at IS NULL
  LEFT JOIN people p ON p.person_id = l.person_id
 WHERE %(all)s OR f.track_id = ANY(%(ids)s)
 GROUP BY f.track_id, t.track_id
 ORDER BY f.track_id
"""


def _track_columns(cur) -> frozenset[str]:
    cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'tracks' "
        "AND table_schema = current_schema()"
    )
    return frozenset(row[0] for row in cur.fetchall())


def feature_frame(conn, track_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Raw feature columns (FEATURE_NAMES, floats, NaN = missing) by track_id,
    plus `artist_ids` (a tuple, maybe empty) and `owners`: the names of the
    people who like the track now (maybe none).

    Tracks without audio features are not in the frame.
    """
    with transaction(conn) as cur:
        cur.execute(_feature_sql(_track_columns(cur)), {"all": track_ids is None, "ids": list(track_ids or [])})
        rows = cur.fetchall()
    columns = ["track_id", *FEATURE_NAMES, "artist_ids", "owners"]
    frame = pd.DataFrame(rows, columns=columns).set_index("track_id")
    frame[list(FEATURE_NAMES)] = frame[list(FEATURE_NAMES)].astype("float64")
    frame["artist_ids"] = frame["artist_ids"].apply(lambda ids: tuple(ids or ()))
    frame["owners"] = frame["owners"].apply(list)
    return frame


def people(conn) -> list[str]:
    """Everyone registered, sorted by name: the order of the model's outputs."""
    with transaction(conn) as cur:
        cur.execute("SELECT name FROM people ORDER BY name")
        return [row[0] for row in cur.fetchall()]


def split_of(track_id: str, test_fraction: float, validation_fraction: float) -> str:
    """train, validation or test, fixed by the track id alone.

    sha256 of the id, read as a number in [0, 1): below test_fraction is
    test, the next validation_fraction is validation, the rest is train.
    """
    digest = hashlib.sha256(track_id.encode("utf-8")).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    if position < test_fraction:
        return "test"
    if position < test_fraction + validation_fraction:
        return "validation"
    return "train"


def training_config(settings: Settings) -> dict:
    """The part of the config a model depends on (stored with each version)."""
    return {
        "features": dict(settings.features.columns),
        "model": dataclasses.asdict(settings.model) | {"hidden_layers": list(settings.model.hidden_layers)},
    }


@dataclass(frozen=True)
class Dataset:
    """Tonight's labelled songs, split, plus the shared ones for the map."""

    people: tuple[str, ...]
    columns: dict[str, str]  # feature -> preprocessing: the model's numeric inputs (see model_columns)
    labelled: pd.DataFrame  # by track_id: raw features, "person", "label", "split"
    shared: pd.DataFrame  # by track_id: raw features, "owners"
    fingerprint: str
    artists: bool = False  # model.signals.artists: the model looks up each song's artist_ids

    def part(self, split: str) -> pd.DataFrame:
        return self.labelled[self.labelled["split"] == split]

    def counts(self) -> dict:
        per_person = self.labelled["person"].value_counts()
        return {
            **{split: int((self.labelled["split"] == split).sum()) for split in SPLITS},
            "shared": len(self.shared),
            "per_person": {name: int(per_person.get(name, 0)) for name in self.people},
        }


def load(settings: Settings, conn) -> Dataset:
    """Everything training needs; DataError when there is too little of it."""
    frame = feature_frame(conn)
    owner_count = frame["owners"].apply(len)
    labelled = frame[owner_count == 1].drop(columns="owners")
    labelled["person"] = frame.loc[owner_count == 1, "owners"].str[0]
    # Someone registered whose likes are not synced yet is left out, not a reason to stop.
    registered = people(conn)
    names = tuple(name for name in registered if (labelled["person"] == name).any())
    waiting = [name for name in registered if name not in names]
    if waiting and len(names) >= 2:
        log.warning("left out of the model until they have songs of their own: %s", ", ".join(waiting))
    labelled["label"] = labelled["person"].map({name: i for i, name in enumerate(names)})
    model = settings.model
    labelled["split"] = [
        split_of(track_id, model.test_fraction, model.validation_fraction) for track_id in labelled.index
    ]
    shared = frame[owner_count > 1]
    _check_enough(labelled, names, model.min_tracks_per_person)
    columns = model_columns(settings, labelled)
    return Dataset(
        people=names,
        columns=columns,
        labelled=labelled,
        shared=shared,
        fingerprint=fingerprint(labelled, columns, training_config(settings)),
        artists=settings.model.signals["artists"],
    )


def model_columns(settings: Settings, labelled: pd.DataFrame) -> dict[str, str]:
    """The numeric columns the model takes: features.columns of the switched-on signal
    groups, plus the metadata group's own; an optional feature nobody sent is left out."""
    signals = settings.model.signals
    columns = {name: how for name, how in settings.features.columns.items() if signals[BY_NAME[name].signal]}
    if signals["metadata"]:
        columns |= {name: how for name, how in METADATA_SIGNALS.items() if name not in columns}
    for name in [name for name in columns if BY_NAME[name].optional and labelled[name].isna().all()]:
        log.info("%s left out of the model: no source gave it for any song", name)
        del columns[name]
    if not columns and not signals["artists"]:
        raise DataError("model.signals switches off every feature the model could use; switch one on")
    return columns


def _check_enough(labelled: pd.DataFrame, names: tuple[str, ...], minimum: int) -> None:
    counts = labelled["person"].value_counts()
    with_data = [name for name in names if counts.get(name, 0) > 0]
    if len(with_data) < 2:
        found = ", ".join(f"{name} ({counts.get(name, 0)})" for name in with_data) or "nobody"
        raise DataError(
            "training needs songs liked by only one person for at least 2 people; found "
            f"{found}; register and sync more people (authorize --user NAME, then sync)"
        )
    for name in names:
        have = int(counts.get(name, 0))
        if have < minimum:
            raise DataError(
                f"{name} has {have} songs with audio features that only they like; training needs "
                f"{minimum} (model.min_tracks_per_person): sync their likes or lower that setting"
            )
    if not (labelled["split"] == "validation").any():
        raise DataError(
            "the validation split is empty (a track's id decides its split); "
            "sync more liked songs or raise model.validation_fraction"
        )
    for split in ("train", "test"):
        present = set(labelled.loc[labelled["split"] == split, "person"])
        for name in names:
            if name not in present:
                raise DataError(
                    f"{name} has no song in the {split} split (a track's id decides its split); "
                    "sync more of their likes"
                )


def fingerprint(labelled: pd.DataFrame, columns: dict[str, str], config: dict) -> str:
    """sha256 over the sorted labelled rows (id, person, artists, used feature values) and the config."""
    digest = hashlib.sha256()
    digest.update(json.dumps(config, sort_keys=True).encode("utf-8"))
    used = sorted(columns)
    rows = labelled.sort_index()
    # Column by column, not iterrows (5 s for 80k songs); the bytes hashed are the same.
    values = [[None if _missing(v) else float(v) for v in rows[c].tolist()] for c in used]
    artists = rows["artist_ids"].tolist() if "artist_ids" in rows else [()] * len(rows)
    for track_id, person, artist_ids, *row in zip(rows.index, rows["person"], artists, *values):
        digest.update(json.dumps([track_id, person, list(artist_ids), row]).encode("utf-8"))
    return digest.hexdigest()


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def labels_of(frame: pd.DataFrame) -> np.ndarray:
    """The integer labels (index into Dataset.people) of a labelled frame."""
    return frame["label"].to_numpy(dtype="int64")
