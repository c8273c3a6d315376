"""Ask the champion: whose song is this? And: which songs of the household or a catalog might a person like?

`predict` takes the features of a track from the database, or for a track
the database has never seen, from the feature sources (when that stage is
installed). A track nobody can describe gets a message, not an exception,
so one unknown song does not spoil the answer for the others.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
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


SOURCES = ("household", "catalog")
STORED_TOP = 25  # songs kept per person and source, for the dashboard
NO_CATALOG = "no catalog file configured (paths.catalog_csv)"


def discover(settings: Settings, conn, person: str, top: int = 10) -> list[dict]:
    """The `top` catalog songs `person` has not liked, the most likely theirs first (nothing stored).

    Each: {track_id, name, artists, probability, probabilities, owners, source, model_version}.
    """
    champion = _champion_for(settings, conn, person, ("catalog",))
    return _rank(settings, conn, champion, "catalog", [person], top)[person]


def find_discoveries(
    settings: Settings, conn, sources: Sequence[str] = SOURCES, person: str | None = None, top: int = 10
) -> tuple[dict[str, dict[str, list[dict]]], dict]:
    """The command line's discover: ranked, stored and recorded like the nightly step's.

    Returns ({source: {person: top songs}}, the run's summary). At least
    STORED_TOP songs are stored, so a short listing does not shorten the dashboard's.
    """
    _champion_for(settings, conn, person, sources)
    found, summary = _store_recorded(settings, conn, max(top, STORED_TOP), sources, [person] if person else None)
    return {source: {p: songs[:top] for p, songs in by_person.items()} for source, by_person in found.items()}, summary


def store_discoveries(settings: Settings, conn, top: int = STORED_TOP, sources: Sequence[str] = SOURCES) -> dict:
    """Everyone's household picks and catalog songs for the dashboard, replaced in one transaction.

    Recorded in `runs`. Skipped (not an error) without a champion, and the
    catalog contributes nothing without a catalog file: both are normal
    states of a young deployment.
    """
    return _store_recorded(settings, conn, top, sources, None)[1]


def _store_recorded(settings, conn, top, sources, persons) -> tuple[dict, dict]:
    with recorded(conn, "discover") as run:
        found, run.summary = _store(settings, conn, top, sources, persons)
        if "skipped" in run.summary:
            run.status = "skipped"
    return found, run.summary


def _store(settings, conn, top, sources, persons) -> tuple[dict, dict]:
    no_catalog = "catalog" in sources and settings.paths.catalog_csv is None
    loaded = registry.load_champion(conn)
    if loaded is None:
        return {}, {"skipped": "no champion model yet" + (f"; {NO_CATALOG}" if no_catalog else "")}
    version, people, _ = loaded
    wanted = [source for source in sources if not (source == "catalog" and no_catalog)]
    found = {source: _rank(settings, conn, loaded, source, persons or people, top) for source in wanted}
    with transaction(conn) as cur:
        for source, ranked in found.items():
            replace_discoveries(cur, version, ranked, source)
    summary = {"model_version": version, "people": _counts(found.get("catalog"))}
    if "household" in sources:
        summary["household"] = _counts(found["household"])
    if no_catalog:
        summary["catalog"] = f"skipped: {NO_CATALOG}"
    return found, summary


def _counts(ranked: dict | None) -> dict[str, int]:
    return {person: len(songs) for person, songs in (ranked or {}).items()}


def _champion_for(settings: Settings, conn, person: str | None, sources: Sequence[str]):
    """The champion, after checking that it can answer for `person` from these sources."""
    if list(sources) == ["catalog"] and settings.paths.catalog_csv is None:
        raise DataError(
            "discover needs a catalog CSV: set paths.catalog_csv in the config "
            "(or TASKCODE_CATALOG_CSV) to a 'Spotify Tracks Dataset' file"
        )
    loaded = _champion(conn)
    if person is not None and person not in loaded[1]:
        raise DataError(
            f"{person!r} is not one of the champion's people ({', '.join(loaded[1])}); "
            "after syncing a new person, train again"
        )
    return loaded


def _rank(settings, conn, champion, source, persons, top) -> dict[str, list[dict]]:
    """Score a source's songs once; for each person keep the best songs they have not liked."""
    version, people, model = champion
    songs = _household_songs(conn) if source == "household" else _catalog_songs(settings)
    if songs.empty:
        return {person: [] for person in persons}
    chances = probabilities(model, songs)
    liked = _liked(conn, persons)
    result = {}
    for person in persons:
        scored = songs[["name", "artists", "owners"]].assign(
            probability=chances[:, people.index(person)], row=np.arange(len(songs))
        )
        candidates = scored[~scored.index.isin(liked.get(person, set()))]
        ranked = candidates.sort_values(["probability", "name"], ascending=[False, True]).head(top)
        result[person] = [
            {
                "track_id": track_id,
                "name": row["name"],
                "artists": row["artists"],
                "probability": round(float(row["probability"]), 4),
                "probabilities": {p: round(float(c), 4) for p, c in zip(people, chances[int(row["row"])])},
                "owners": list(row["owners"]),
                "source": source,
                "model_version": version,
            }
            for track_id, row in ranked.iterrows()
        ]
    return result


def _catalog_songs(settings: Settings) -> pd.DataFrame:
    from taskcode.catalog import catalog_features, read_catalog

    catalog = read_catalog(settings.paths.catalog_csv)
    songs = catalog_features(catalog)
    return songs.assign(name=catalog["track_name"], artists=catalog["artists"], owners=[[]] * len(songs))


def _household_songs(conn) -> pd.DataFrame:
    """Every song someone likes now, with its features: the household's libraries."""
    frame = dataset.feature_frame(conn)
    frame = frame[frame["owners"].map(bool)]
    with transaction(conn) as cur:
        cur.execute(
            "SELECT track_id, name, array_to_string(artists, ', ') FROM tracks WHERE track_id = ANY(%s)",
            (list(frame.index),),
        )
        names = {track_id: (name, artists) for track_id, name, artists in cur.fetchall()}
    return frame.assign(
        name=[names.get(t, (None, None))[0] or "" for t in frame.index],
        artists=[names.get(t, (None, None))[1] or "" for t in frame.index],
    )


def _liked(conn, persons) -> dict[str, set[str]]:
    """The songs each person likes or once liked: never offered back to them."""
    with transaction(conn) as cur:
        cur.execute(
            """SELECT p.name, l.track_id FROM likes l JOIN people p ON p.person_id = l.person_id
                WHERE p.name = ANY(%s)""",
            (list(persons),),
        )
        liked: dict[str, set[str]] = {}
        for name, track_id in cur.fetchall():
            liked.setdefault(name, set()).add(track_id)
    return liked


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


def format_discoveries(found: dict[str, dict[str, list[dict]]], summary: dict) -> str:
    """The CLI's listing: per source, each person's songs, then why a source gave none."""
    lines = [f"champion model version {summary['model_version']}"] if "model_version" in summary else []
    for source, by_person in found.items():
        for person, songs in by_person.items():
            if not songs:
                lines.append(f"no {source} song that {person} has not liked yet")
                continue
            lines.append(f"{source} songs for {person}:")
            for rank, song in enumerate(songs, start=1):
                owners = f"  liked by {', '.join(song['owners'])}" if song["owners"] else ""
                title = f"{song['name']} – {song['artists']}  [{song['track_id']}]"
                lines.append(f"{rank:>3}. {song['probability']:.2f}  {title}{owners}")
    lines += [f"{key}: {summary[key]}" for key in ("catalog", "skipped") if key in summary]
    return "\n".join(lines)
