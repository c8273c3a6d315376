"""The promotion policy: when a candidate becomes the champion, and how to undo it.

A candidate is judged on its own test set (today's songs) against the
champion measured again on the same songs. A higher F1 alone is not enough:
retrains on unchanged data differ by a few hundredths from the seed alone, so
a paired bootstrap of the F1 difference must find the candidate better with
probability at least `model.promotion_confidence`, and the difference must
exceed `model.min_f1_gain`. When the champion cannot be measured there (other
people, other split fractions, an artifact that no longer loads), or before
the first champion, the bar is always guessing the training split's most
common person, with the same test. Winner: `champion`, the old champion
`retired` (kept for rollback). Loser: `rejected`. Ties and noise keep the
champion, and so keep its map.

Where versions and the champion are stored is `taskcode.registry`'s business;
this module decides, then writes the verdict through it in one transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from taskcode import dataset, registry
from taskcode.bootstrap import Comparison, compare
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
    evidence: dict = field(default_factory=dict)  # the numbers behind `text`, as stored in the registry

    def as_dict(self) -> dict:
        return {"version": self.version, "promoted": self.promoted, "decision": self.text, "evidence": self.evidence}


@dataclass(frozen=True)
class Rollback:
    retired: int  # the champion before the rollback
    champion: int  # the champion now


def evaluate_and_promote(settings: Settings, conn, version: int) -> Decision:
    """The gate: promote the candidate only if it is better than the champion on today's songs."""
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
    test = _test_frame(conn, candidate)
    if test is None or len(test) == 0:
        text = f"rejected: version {candidate.version}'s test songs have no features any more, so it cannot be measured"
        return Decision(candidate.version, False, float("nan"), "nothing", float("nan"), 0.0, text)
    people = list(candidate.people)
    y_true = test["person"].map({name: i for i, name in enumerate(people)}).to_numpy()
    challenger = _guesses(registry.load_model(conn, candidate.version), test)
    reference, reference_guesses, note = _reference(conn, candidate, current, test, y_true)
    model = settings.model
    result = compare(
        y_true, challenger, reference_guesses, len(people), resamples=model.bootstrap_resamples, seed=model.seed
    )
    challenger_f1, reference_f1 = (macro_f1(people, y_true, guesses) for guesses in (challenger, reference_guesses))
    sure = result.probability >= model.promotion_confidence
    promoted = sure and result.difference > model.min_f1_gain
    text = note + _sentence(candidate.version, promoted, challenger_f1, reference, reference_f1, result, model)
    evidence = {
        "reference": reference,
        "reference_f1": reference_f1,
        "challenger_f1": challenger_f1,
        **result.as_dict(),
        "confidence": model.promotion_confidence,
        "min_gain": model.min_f1_gain,
    }
    return Decision(
        candidate.version, promoted, challenger_f1, reference, reference_f1, model.min_f1_gain, text, evidence
    )


def _sentence(version, promoted, challenger_f1, reference, reference_f1, result: Comparison, model) -> str:
    """E.g. "promoted: F1 0.972 vs champion version 3's 0.960 on version 4's test set: +0.012
    (95% interval +0.004 to +0.020), better with probability 0.990 >= 0.95"."""
    gain = f" + {model.min_f1_gain:.3f}" if model.min_f1_gain else ""
    sure = result.probability >= model.promotion_confidence
    text = (
        f"{'promoted' if promoted else 'rejected'}: F1 {challenger_f1:.3f} vs {reference}'s {reference_f1:.3f}{gain} "
        f"on version {version}'s test set: {result.difference:+.3f} (95% interval {result.low:+.3f} to "
        f"{result.high:+.3f}), better with probability {result.probability:.3f} "
        f"{'>=' if sure else '<'} {model.promotion_confidence:g}"
    )
    if sure and not promoted:
        text += f", but the gain is not above model.min_f1_gain {model.min_f1_gain:g}"
    return text


def _reference(conn, candidate: Version, current: Version | None, test: pd.DataFrame, y_true: np.ndarray):
    """(what the candidate must beat, its guesses on the test songs, a note on why the champion is not the bar)."""
    if current is None:
        return MAJORITY, _majority_guesses(candidate, y_true), ""
    reference = f"champion version {current.version}"
    guesses, why_not = _champion_guesses(conn, current, candidate, test)
    if guesses is not None:
        return reference, guesses, ""
    note = f"{reference} {why_not}, so the challenger competes against {MAJORITY}; "
    return MAJORITY, _majority_guesses(candidate, y_true), note


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
            registry.record_decision(cur, version, decision.text, evidence=decision.evidence, replaces=now_champion)
        else:
            registry.reject(cur, version)
            registry.record_decision(cur, version, decision.text, evidence=decision.evidence)


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


# -- the guesses of the champion and of the baseline on the challenger's songs -----------------


def _guesses(model, test: pd.DataFrame) -> np.ndarray:
    return probabilities(model, test).argmax(axis=1)


def _champion_guesses(conn, current: Version, candidate: Version, test: pd.DataFrame) -> tuple[np.ndarray | None, str]:
    """The champion's guesses on the candidate's test songs, or (None, why it cannot guess them)."""
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
    try:
        return _guesses(registry.load_model(conn, current.version), test), ""
    except Exception as exc:  # an old artifact that no longer loads must not block the night
        log.warning("cannot use champion version %s: %s", current.version, exc)
        first_line = (str(exc).strip().splitlines() or [""])[0]
        return None, f"could not be loaded or run ({type(exc).__name__}: {first_line})"


def _majority_guesses(candidate: Version, y_true: np.ndarray) -> np.ndarray:
    """Always the training split's most common person.

    That person is not stored, but the F1 of guessing them is
    (`majority_f1`, on these very songs): the constant guess that scores it is
    theirs, or one indistinguishable from it on this test set.
    """
    people = list(candidate.people)
    constants = [np.full_like(y_true, index) for index in range(len(people))]
    stored = candidate.metrics.get("majority_f1")
    if stored is None:
        return constants[int(np.bincount(y_true, minlength=len(people)).argmax())]
    return min(constants, key=lambda guesses: abs(macro_f1(people, y_true, guesses) - stored))


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
