"""The model registry in PostgreSQL, like MLflow's: numbered versions, one champion.

Every trained model becomes a version (status `candidate`) with its config,
people, data fingerprint, metrics, baselines and the `.keras` file itself,
stored in the database so that every container can load it. A candidate then
meets the gate: it must beat the champion's F1, measured again on the
candidate's own test set (today's songs), by more than `model.min_f1_gain`;
the very first model must beat always guessing the most common person.
Winner: `champion`, the old champion `retired` (kept for rollback). Loser:
`rejected`. The status column and the `champion` alias move together in one
transaction, and a unique index allows only one champion at any moment.

TensorFlow is imported only inside the functions that load or save models.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from taskcode import dataset
from taskcode.config import Settings
from taskcode.db import transaction
from taskcode.errors import TaskcodeError
from taskcode.metrics import macro_f1

log = logging.getLogger(__name__)

REGISTRY_LOCK = 73014  # pg_advisory_xact_lock key: one champion move at a time
_COLUMNS = (
    "version, status, created_at, people, config, data_fingerprint, metrics, baselines, "
    "decision, training_seconds, replaces"
)


@dataclass(frozen=True)
class Version:
    """One registry row, without the artifact bytes."""

    version: int
    status: str
    created_at: dt.datetime
    people: tuple[str, ...]
    config: dict
    data_fingerprint: str
    metrics: dict
    baselines: dict
    decision: str | None
    training_seconds: float | None
    replaces: int | None

    @property
    def f1(self) -> float | None:
        return self.metrics.get("f1")


@dataclass(frozen=True)
class Decision:
    """The gate's verdict on one candidate."""

    version: int
    promoted: bool
    challenger_f1: float
    reference: str          # what it had to beat, e.g. "champion version 3"
    reference_f1: float
    min_gain: float
    text: str


@dataclass(frozen=True)
class Rollback:
    retired: int     # the champion before the rollback
    champion: int    # the champion now


# -- artifacts ----------------------------------------------------------------


def model_to_bytes(model) -> bytes:
    """The `.keras` file of a model, as bytes (Keras saves to files only)."""
    with tempfile.TemporaryDirectory(prefix="taskcode-model-") as folder:
        path = os.path.join(folder, "model.keras")
        with warnings.catch_warnings():
            # Keras 3.15 on TensorFlow 2.21 warns about numpy 2's `copy` keyword
            # for every variable it saves; harmless, and not ours to fix.
            warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
            model.save(path)
        with open(path, "rb") as handle:
            return handle.read()


def model_from_bytes(data: bytes):
    """A Keras model from `.keras` bytes, in Keras' safe mode (no pickled code)."""
    import keras

    import taskcode.layers  # noqa: F401 - registers FillMissing and Log1p with Keras

    with tempfile.TemporaryDirectory(prefix="taskcode-model-") as folder:
        path = os.path.join(folder, "model.keras")
        with open(path, "wb") as handle:
            handle.write(bytes(data))
        return keras.saving.load_model(path, compile=False, safe_mode=True)


def model_inputs(model, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Raw feature columns of `frame`, one (n, 1) float32 array per model input.

    Exactly the model's inputs: Keras silently mismatches a dict with extra keys.
    """
    names = [tensor.name for tensor in model.inputs]
    return {name: frame[name].to_numpy(dtype="float32").reshape(-1, 1) for name in names}


def probabilities(model, frame: pd.DataFrame) -> np.ndarray:
    """One probability per person (columns in the model's people order)."""
    if len(frame) == 0:
        raise ValueError("probabilities of an empty frame")
    out = model.predict(model_inputs(model, frame), verbose=0, batch_size=1024)
    if out.shape[1] == 1:  # one sigmoid unit: the probability of the second person
        out = np.hstack([1 - out, out])
    return out


def hidden_model(model):
    """The model up to its last hidden layer (`hidden_k`): what the map shows."""
    import keras

    hidden = sorted(
        (layer for layer in model.layers if layer.name.startswith("hidden_")),
        key=lambda layer: int(layer.name.rsplit("_", 1)[1]),
    )
    return keras.Model(model.inputs, hidden[-1].output, name="last_hidden")


# -- reading --------------------------------------------------------------------


def _version(row) -> Version:
    (version, status, created_at, people, config, fingerprint, metrics, baselines,
     decision, seconds, replaces) = row
    return Version(version, status, created_at, tuple(people), config, fingerprint,
                   metrics, baselines, decision, seconds, replaces)


def get_version(conn, version: int) -> Version:
    with transaction(conn) as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM model_versions WHERE version = %s", (version,))
        row = cur.fetchone()
    if row is None:
        raise TaskcodeError(f"there is no model version {version}; see: python -m taskcode model list")
    return _version(row)


def champion(conn) -> Version | None:
    with transaction(conn) as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM model_versions WHERE status = 'champion'")
        row = cur.fetchone()
    return _version(row) if row else None


def list_versions(conn) -> list[Version]:
    with transaction(conn) as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM model_versions ORDER BY version")
        return [_version(row) for row in cur.fetchall()]


def load_model(conn, version: int):
    with transaction(conn) as cur:
        cur.execute("SELECT artifact FROM model_versions WHERE version = %s", (version,))
        row = cur.fetchone()
    if row is None:
        raise TaskcodeError(f"there is no model version {version}; see: python -m taskcode model list")
    return model_from_bytes(row[0])


def load_champion(conn):
    """(version, people, keras model) of the champion, or None before the first one."""
    current = champion(conn)
    if current is None:
        return None
    return current.version, list(current.people), load_model(conn, current.version)


# -- writing --------------------------------------------------------------------


def register(
    conn, model, *, people: Sequence[str], config: dict, fingerprint: str, metrics: dict,
    baselines: dict, test_set: dict,
) -> int:
    """Store a freshly trained model as a new `candidate` version; returns its number."""
    artifact = model_to_bytes(model)
    with transaction(conn) as cur:
        cur.execute(
            """INSERT INTO model_versions (people, config, data_fingerprint, metrics, baselines,
                                           training_seconds, test_set, artifact)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING version""",
            (list(people), json.dumps(config), fingerprint, json.dumps(metrics),
             json.dumps(baselines), metrics.get("training_seconds"), json.dumps(test_set),
             artifact),
        )
        version = cur.fetchone()[0]
    log.info("registered model version %s (%d KB)", version, len(artifact) // 1024)
    return version


def evaluate_and_promote(settings: Settings, conn, version: int) -> Decision:
    """The gate: promote the candidate only if it beats the champion on today's songs."""
    candidate = get_version(conn, version)
    if candidate.status != "candidate":
        raise TaskcodeError(
            f"model version {version} is {candidate.status}, not a candidate; only a new "
            "version can be evaluated (python -m taskcode train)"
        )
    min_gain = settings.model.min_f1_gain
    challenger_f1 = float(candidate.metrics["f1"])
    current = champion(conn)
    note = ""
    reference_f1 = None
    if current is not None:
        reference = f"champion version {current.version}"
        reference_f1, why_not = _measure_on_test_set(conn, current, candidate)
        if reference_f1 is None:
            note = f"{reference} {why_not}, so the challenger competes against the majority-class baseline; "
    if reference_f1 is None:
        reference = "the majority-class baseline"
        reference_f1 = float(candidate.metrics["majority_f1"])
    promoted = challenger_f1 > reference_f1 + min_gain
    verdict = "promoted" if promoted else "rejected"
    comparison = ">" if promoted else "<="
    gain = f" + {min_gain:.3f}" if min_gain else ""
    text = (
        f"{note}{verdict}: F1 {challenger_f1:.3f} {comparison} {reference}'s "
        f"{reference_f1:.3f}{gain} on version {version}'s test set"
    )

    with transaction(conn) as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (REGISTRY_LOCK,))
        cur.execute("SELECT version FROM model_versions WHERE status = 'champion'")
        row = cur.fetchone()
        now_champion = row[0] if row else None
        if now_champion != (current.version if current else None):
            raise TaskcodeError(
                f"the champion changed to version {now_champion} while version {version} was "
                "evaluated; run the evaluation again"
            )
        cur.execute("SELECT status FROM model_versions WHERE version = %s FOR UPDATE", (version,))
        if cur.fetchone()[0] != "candidate":
            raise TaskcodeError(f"model version {version} was evaluated by another run meanwhile")
        if promoted:
            _move_champion(cur, version, now_champion)
            if now_champion is not None:
                cur.execute("UPDATE model_versions SET replaces = %s WHERE version = %s",
                            (now_champion, version))
        else:
            cur.execute("UPDATE model_versions SET status = 'rejected' WHERE version = %s", (version,))
        cur.execute("UPDATE model_versions SET decision = %s WHERE version = %s", (text, version))
    log.info("model version %s %s", version, text)
    return Decision(version, promoted, challenger_f1, reference, reference_f1, min_gain, text)


def rollback(conn) -> Rollback:
    """Make the champion that the current one replaced the champion again.

    The current champion becomes `retired`. Each champion remembers the one
    it replaced, so rolling back twice goes back two promotions.
    """
    with transaction(conn) as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (REGISTRY_LOCK,))
        cur.execute("SELECT version, replaces FROM model_versions WHERE status = 'champion' FOR UPDATE")
        row = cur.fetchone()
        if row is None:
            raise TaskcodeError("there is no champion yet, so nothing to roll back; run: python -m taskcode train")
        current, previous = row
        if previous is None:
            raise TaskcodeError(
                f"version {current} was the first champion: there is no earlier champion to roll back to"
            )
        _move_champion(cur, previous, current)
        cur.execute(
            "UPDATE model_versions SET decision = coalesce(decision || '; ', '') || %s WHERE version = %s",
            (f"retired by a rollback to version {previous} on {dt.date.today().isoformat()}", current),
        )
    log.info("rolled back: version %s is the champion again, version %s retired", previous, current)
    return Rollback(retired=current, champion=previous)


def _move_champion(cur, new: int, old: int | None) -> None:
    """Status column and alias together; the caller's transaction makes it atomic."""
    if old is not None:
        cur.execute("UPDATE model_versions SET status = 'retired' WHERE version = %s", (old,))
    cur.execute("UPDATE model_versions SET status = 'champion' WHERE version = %s", (new,))
    _set_alias(cur, "champion", new)


def _set_alias(cur, alias: str, version: int) -> None:
    cur.execute(
        """INSERT INTO model_aliases (alias, version) VALUES (%s, %s)
           ON CONFLICT (alias) DO UPDATE SET version = EXCLUDED.version, updated_at = now()""",
        (alias, version),
    )


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
        model = load_model(conn, current.version)
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
    with transaction(conn) as cur:
        cur.execute("SELECT test_set FROM model_versions WHERE version = %s", (candidate.version,))
        test_set = cur.fetchone()[0]
    if not test_set.get("track_ids"):
        return None
    owner = dict(zip(test_set["track_ids"], test_set["labels"]))
    frame = dataset.feature_frame(conn, test_set["track_ids"])
    return frame.assign(person=[owner[track_id] for track_id in frame.index])


def format_versions(versions: Sequence[Version]) -> str:
    """`model list`: a line per version, and under it the decision that gave it its status.

    The decision matters to read the F1 column: a challenger is judged against
    the champion measured again on the challenger's test set, so a rejected
    version may show a higher F1 than the champion's (older) own.
    """
    if not versions:
        return "no model versions yet; run: python -m taskcode train"
    lines = [f"{'version':>7}  {'status':9}  {'F1':>5}  {'LogReg':>6}  {'created':16}  people"]
    for v in versions:
        f1 = f"{v.f1:.3f}" if v.f1 is not None else "-"
        baseline = v.baselines.get("logistic_regression", {}).get("f1")
        baseline = f"{baseline:.3f}" if baseline is not None else "-"
        created = v.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
        lines.append(f"{v.version:>7}  {v.status:9}  {f1:>5}  {baseline:>6}  {created:16}  {', '.join(v.people)}")
        if v.decision:
            lines.append(f"{'':7}  {v.decision}")
    return "\n".join(lines)
