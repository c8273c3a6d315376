"""The promotion policy: when a candidate becomes the champion, and how to undo it.

A candidate must beat the champion's F1, measured again on the candidate's
own test set (today's songs), by more than `model.min_f1_gain`. When the
champion cannot be measured there (other people, other split fractions, an
artifact that no longer loads), or before the first champion, the bar is
always guessing the most common person. Winner: `champion`, the old champion
`retired` (kept for rollback). Loser: `rejected`.

Where versions and the champion are stored is `taskcode.registry`'s business;
this module decides, then writes the verdict through it in one transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import pandas as pd

from taskcode import dataset, registry
from taskcode.config import Settings
from taskcode.db import transaction
from taskcode.errors import TaskcodeError
from taskcode.metrics import macro_f1
from taskcode.model import probabilities
from taskcode.registry import Version
from taskcode.runs import recorded

log = logging.getLogger(__name__)

MAJORITY = "the majority-class baseline"


@dataclass(frozen=True)
class Decision:
    """The gate's verdict on one candidate."""

    version: int
    promoted: bool
    challenger_f1: float
    reference: str  # what it had to beat, e.g. "champion version 3"
    reference_f1: float
    min_gain: float
    text: str

    def as_dict(self) -> dict:
        return {"version": self.version, "promoted": self.promoted, "decision": self.text}


@dataclass(frozen=True)
class Rollback:
    retired: int  # the champion before the rollback
    champion: int  # the champion now


def evaluate_and_promote(settings: Settings, conn, version: int) -> Decision:
    """The gate: promote the candidate only if it beats the champion on today's songs."""
    candidate = registry.get_version(conn, version)
    if candidate.status != "candidate":
        raise TaskcodeError(
            f"model version {version} is {candidate.status}, not a candidate; only a new "
            "version can be evaluated (python -m taskcode train)"
        )
    with recorded(conn, "evaluate_and_promote") as run:
        current = registry.champion(conn)
        decision = _judge(settings, conn, candidate, current)
        _store(conn, decision, current.version if current else None)
        run.summary = decision.as_dict()
    log.info("model version %s %s", version, decision.text)
    return decision


def _judge(settings: Settings, conn, candidate: Version, current: Version | None) -> Decision:
    """The verdict and its one-line reason; nothing is written yet."""
    min_gain = settings.model.min_f1_gain
    challenger_f1 = float(candidate.metrics["f1"])
    reference, reference_f1, note = _reference(conn, candidate, current)
    promoted = challenger_f1 > reference_f1 + min_gain
    verdict = "promoted" if promoted else "rejected"
    comparison = ">" if promoted else "<="
    gain = f" + {min_gain:.3f}" if min_gain else ""
    text = (
        f"{note}{verdict}: F1 {challenger_f1:.3f} {comparison} {reference}'s "
        f"{reference_f1:.3f}{gain} on version {candidate.version}'s test set"
    )
    return Decision(candidate.version, promoted, challenger_f1, reference, reference_f1, min_gain, text)


def _reference(conn, candidate: Version, current: Version | None) -> tuple[str, float, str]:
    """(what the candidate must beat, its F1, a note on why the champion could not be the bar)."""
    if current is None:
        return MAJORITY, float(candidate.metrics["majority_f1"]), ""
    reference = f"champion version {current.version}"
    reference_f1, why_not = _measure_on_test_set(conn, current, candidate)
    if reference_f1 is not None:
        return reference, reference_f1, ""
    note = f"{reference} {why_not}, so the challenger competes against {MAJORITY}; "
    return MAJORITY, float(candidate.metrics["majority_f1"]), note


def _store(conn, decision: Decision, measured_against: int | None) -> None:
    """Write the verdict in one transaction, unless another run moved the champion
    or judged the candidate meanwhile."""
    version = decision.version
    with transaction(conn) as cur:
        row = registry.lock_champion(cur)
        now_champion = row[0] if row else None
        if now_champion != measured_against:
            raise TaskcodeError(
                f"the champion changed to version {now_champion} while version {version} was "
                "evaluated; run the evaluation again"
            )
        if registry.lock_status(cur, version) != "candidate":
            raise TaskcodeError(f"model version {version} was evaluated by another run meanwhile")
        if decision.promoted:
            registry.move_champion(cur, version, now_champion)
            registry.record_decision(cur, version, decision.text, replaces=now_champion)
        else:
            registry.reject(cur, version)
            registry.record_decision(cur, version, decision.text)


def rollback(conn) -> Rollback:
    """Make the champion that the current one replaced the champion again.

    The current champion becomes `retired`. Each champion remembers the one
    it replaced, so rolling back twice goes back two promotions.
    """
    with transaction(conn) as cur:
        row = registry.lock_champion(cur)
        if row is None:
            raise TaskcodeError("there is no champion yet, so nothing to roll back; run: python -m taskcode train")
        current, previous = row
        if previous is None:
            raise TaskcodeError(
                f"version {current} was the first champion: there is no earlier champion to roll back to"
            )
        registry.move_champion(cur, previous, current)
        registry.add_to_decision(
            cur, current, f"retired by a rollback to version {previous} on {dt.date.today().isoformat()}"
        )
    log.info("rolled back: version %s is the champion again, version %s retired", previous, current)
    return Rollback(retired=current, champion=previous)


# -- measuring the champion on the challenger's songs ------------------------------------


def _measure_on_test_set(conn, current: Version, candidate: Version) -> tuple[float | None, str]:
    """The champion's macro-F1 on the candidate's test set, or (None, why it cannot)."""
    if list(current.people) != list(candidate.people):
        return None, (
            f"was trained for {', '.join(current.people)}, today's people are "
            f"{', '.join(candidate.people)}: it cannot score today's test set"
        )
    if _split_of(current) != _split_of(candidate):
        return None, (
            "was trained with other split fractions (model.test_fraction / validation_fraction), "
            "so today's test set holds songs it learned from"
        )
    test = _test_frame(conn, candidate)
    if test is None or len(test) == 0:
        return None, "cannot be measured: the test songs have no features any more"
    try:
        model = registry.load_model(conn, current.version)
        proba = probabilities(model, test)
    except Exception as exc:  # an old artifact that no longer loads must not block the night
        log.warning("cannot use champion version %s: %s", current.version, exc)
        first_line = (str(exc).strip().splitlines() or [""])[0]
        return None, f"could not be loaded or run ({type(exc).__name__}: {first_line})"
    y_true = test["person"].map({name: i for i, name in enumerate(candidate.people)}).to_numpy()
    return macro_f1(candidate.people, y_true, proba.argmax(axis=1)), ""


def _split_of(version: Version) -> tuple:
    model = version.config.get("model", {})
    return model.get("test_fraction"), model.get("validation_fraction")


def _test_frame(conn, candidate: Version) -> pd.DataFrame | None:
    """Raw features of the candidate's test songs, with their owner as stored then."""
    test_set = registry.test_set(conn, candidate.version)
    if not test_set.get("track_ids"):
        return None
    owner = dict(zip(test_set["track_ids"], test_set["labels"]))
    frame = dataset.feature_frame(conn, test_set["track_ids"])
    return frame.assign(person=[owner[track_id] for track_id in frame.index])
