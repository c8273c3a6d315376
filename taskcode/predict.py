"""Ask the champion: whose song is this? And: which catalog songs might a person like?

`predict` takes the features of a track from the database, or for a track
the database has never seen, from the feature sources (when that stage is
installed). A track nobody can describe gets a message, not an exception,
so one unknown song does not spoil the answer for the others.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from taskcode import dataset, registry
from taskcode.config import Settings
from taskcode.db import transaction
from taskcode.errors import DataError, TaskcodeError
from taskcode.items import track_id_from
from taskcode.model import probabilities
from taskcode.runs import recorded
from taskcode.schema import FEATURE_NAMES, to_number
from taskcode.store import replace_discoveries

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    reference: str  # what the user typed
    track_id: str | None
    model_version: int | None = None
    probabilities: dict[str, float] = field(default_factory=dict)  # empty: no prediction
    guess: str | None = None
    name: str | None = None
    owners: list[str] = field(default_factory=list)  # who likes it today
    features_from: str | None = None  # "database" or "feature source"
    message: str | None = None  # why there is no prediction

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def predict(settings: Settings, conn, references: Sequence[str]) -> list[Prediction]:
    """The champion's answer for each reference (id, URI or URL), in the given order."""
    version, people, model = _champion(conn)
    ids = {reference: track_id_from(reference) for reference in references}
    wanted = sorted({track_id for track_id in ids.values() if track_id})
    frame = dataset.feature_frame(conn, wanted)
    frame["features_from"] = "database"
    missing = [track_id for track_id in wanted if track_id not in frame.index]
    fetched, why_unknown = _look_up(settings, conn, missing)
    if len(fetched):
        frame = pd.concat([frame, fetched])
    names = _track_names(conn, wanted)  # also tells which tracks the database has
    proba = probabilities(model, frame) if len(frame) else None

    results = []
    for reference, track_id in ids.items():
        if track_id is None:
            results.append(
                Prediction(
                    reference,
                    None,
                    version,
                    message="not a Spotify track id, spotify:track: URI or open.spotify.com track URL",
                )
            )
        elif track_id not in frame.index:
            where = "the database has it without audio features" if track_id in names else "not in the database"
            results.append(
                Prediction(
                    reference,
                    track_id,
                    version,
                    name=names.get(track_id),
                    message=f"unknown: {where}, and {why_unknown[track_id]}",
                )
            )
        else:
            row = frame.index.get_loc(track_id)
            chances = {person: round(float(p), 4) for person, p in zip(people, proba[row])}
            results.append(
                Prediction(
                    reference,
                    track_id,
                    version,
                    chances,
                    max(chances, key=chances.get),
                    names.get(track_id),
                    list(frame["owners"].iloc[row]),
                    frame["features_from"].iloc[row],
                )
            )
    return results


def discover(settings: Settings, conn, person: str, top: int = 10) -> list[dict]:
    """The `top` catalog songs `person` has not liked, the most likely theirs first.

    Each: {track_id, name, artists, probability, model_version}.
    """
    if settings.paths.catalog_csv is None:
        raise DataError(
            "discover needs a catalog CSV: set paths.catalog_csv in the config "
            "(or TASKCODE_CATALOG_CSV) to a 'Spotify Tracks Dataset' file"
        )
    version, people, model = _champion(conn)
    if person not in people:
        raise DataError(
            f"{person!r} is not one of the champion's people ({', '.join(people)}); "
            "after syncing a new person, train again"
        )
    return _rank_catalog(settings, conn, version, people, model, [person], top)[person]


def store_discoveries(settings: Settings, conn, top: int = 25) -> dict:
    """Everyone's top catalog songs for the dashboard, replaced in one transaction; recorded in `runs`.

    Skipped (not an error) without a catalog file or a champion: both are
    normal states of a young deployment.
    """
    with recorded(conn, "discover") as run:
        run.summary = _store_discoveries(settings, conn, top)
        if "skipped" in run.summary:
            run.status = "skipped"
    return run.summary


def _store_discoveries(settings: Settings, conn, top: int) -> dict:
    if settings.paths.catalog_csv is None:
        return {"skipped": "no catalog file configured (paths.catalog_csv)"}
    loaded = registry.load_champion(conn)
    if loaded is None:
        return {"skipped": "no champion model yet"}
    version, people, model = loaded
    ranked = _rank_catalog(settings, conn, version, people, model, people, top)
    with transaction(conn) as cur:
        replace_discoveries(cur, version, ranked)
    return {"model_version": version, "people": {person: len(songs) for person, songs in ranked.items()}}


def _rank_catalog(settings, conn, version, people, model, persons, top) -> dict[str, list[dict]]:
    """Score the whole catalog once; for each person keep the best songs they have not liked."""
    from taskcode.catalog import catalog_features, read_catalog

    catalog = read_catalog(settings.paths.catalog_csv)
    if catalog.empty:
        return {person: [] for person in persons}
    chances = probabilities(model, catalog_features(catalog))
    with transaction(conn) as cur:
        cur.execute(
            """SELECT p.name, l.track_id FROM likes l JOIN people p ON p.person_id = l.person_id
                WHERE p.name = ANY(%s)""",
            (list(persons),),
        )
        liked: dict[str, set[str]] = {}
        for name, track_id in cur.fetchall():
            liked.setdefault(name, set()).add(track_id)
    result = {}
    for person in persons:
        scored = catalog.assign(probability=chances[:, people.index(person)])
        candidates = scored[~scored.index.isin(liked.get(person, set()))]
        ranked = candidates.sort_values(["probability", "track_name"], ascending=[False, True]).head(top)
        result[person] = [
            {
                "track_id": track_id,
                "name": row["track_name"],
                "artists": row["artists"],
                "probability": round(float(row["probability"]), 4),
                "model_version": version,
            }
            for track_id, row in ranked.iterrows()
        ]
    return result


def _champion(conn):
    loaded = registry.load_champion(conn)
    if loaded is None:
        raise DataError("there is no champion model yet; run: python -m taskcode train")
    return loaded


def _look_up(settings: Settings, conn, track_ids: list[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Features of tracks the database lacks, from the configured feature sources.

    Returns (frame of the tracks found, reason per track not found).
    """
    from taskcode.features import lookup

    if not track_ids:
        return pd.DataFrame(), {}
    try:
        rows = lookup(settings, conn, track_ids)
    except TaskcodeError as exc:
        reason = f"looking up its features failed ({exc})"
        return pd.DataFrame(), {track_id: reason for track_id in track_ids}
    found = {track_id: row for track_id, row in rows.items() if row and track_id in track_ids}
    frame = pd.DataFrame(
        [{name: to_number(row.get(name)) for name in FEATURE_NAMES} for row in found.values()],
        index=pd.Index(list(found), name="track_id"),
        columns=list(FEATURE_NAMES),
        dtype="float64",
    )
    frame["owners"] = [[] for _ in range(len(frame))]
    frame["features_from"] = "feature source"
    reason = "no feature source knows it"
    return frame, {track_id: reason for track_id in track_ids if track_id not in found}


def _track_names(conn, track_ids: list[str]) -> dict[str, str | None]:
    """'Name – Artist' of the tracks the database has (None when it knows no name)."""
    with transaction(conn) as cur:
        cur.execute("SELECT track_id, name, artists FROM tracks WHERE track_id = ANY(%s)", (list(track_ids),))
        return {
            track_id: (f"{name} – {', '.join(artists)}" if artists else name) if name else None
            for track_id, name, artists in cur.fetchall()
        }


def format_predictions(predictions: Sequence[Prediction]) -> str:
    lines = []
    if predictions and predictions[0].model_version is not None:
        lines.append(f"champion: model version {predictions[0].model_version}")
    for p in predictions:
        title = p.name or p.track_id or p.reference
        lines.append(f"{title}" + (f"  [{p.track_id}]" if p.track_id and p.name else ""))
        if p.message:
            lines.append(f"  {p.message}")
            continue
        chances = "  ".join(f"{person} {chance:.2f}" for person, chance in p.probabilities.items())
        liked = f"; liked by {', '.join(p.owners)}" if p.owners else ""
        lines.append(f"  {chances}  -> {p.guess}{liked}")
    return "\n".join(lines)


def format_discoveries(person: str, found: Sequence[dict]) -> str:
    if not found:
        return f"the catalog has no song that {person} has not liked yet"
    lines = [f"catalog songs for {person} (champion model version {found[0]['model_version']}):"]
    for rank, song in enumerate(found, start=1):
        lines.append(f"{rank:>3}. {song['probability']:.2f}  {song['name']} – {song['artists']}  [{song['track_id']}]")
    return "\n".join(lines)
