"""The model registry in PostgreSQL, like MLflow's: numbered versions, one champion.

Every trained model becomes a version (status `candidate`) with its config,
people, data fingerprint, metrics, baselines, test set and the `.keras` file
itself, stored in the database so that every container can load it.

The champion is the one row whose status is `champion`: the status column is
the only record of it, and a unique index lets the database refuse a second
one whatever the code does. Every reader (the pipeline, `status`, the
dashboard) asks that column. Moving the champion happens inside the caller's
transaction, under one advisory lock, so that nobody sees it half moved.

Whether a candidate deserves the title is `taskcode.promotion`'s question;
this module only stores the answer.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from taskcode.db import transaction
from taskcode.errors import TaskcodeError
from taskcode.model import model_from_bytes, model_to_bytes

log = logging.getLogger(__name__)

REGISTRY_LOCK = 73014  # pg_advisory_xact_lock key: one champion move at a time
_COLUMNS = (
    "version, status, created_at, people, config, data_fingerprint, metrics, baselines, "
    "decision, training_seconds, replaces, evidence"
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
    evidence: dict | None = None  # the gate's numbers behind `decision` (taskcode.promotion)

    @property
    def f1(self) -> float | None:
        return self.metrics.get("f1")


# -- reading --------------------------------------------------------------------


def _version(row) -> Version:
    (version, status, created_at, people, *rest) = row
    return Version(version, status, created_at, tuple(people), *rest)


def _no_such_version(version: int) -> TaskcodeError:
    return TaskcodeError(f"there is no model version {version}; see: python -m taskcode model list")


def get_version(conn, version: int) -> Version:
    with transaction(conn) as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM model_versions WHERE version = %s", (version,))
        row = cur.fetchone()
    if row is None:
        raise _no_such_version(version)
    return _version(row)


def champion(conn) -> Version | None:
    """The champion, or None before the first promotion."""
    with transaction(conn) as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM model_versions WHERE status = 'champion'")
        row = cur.fetchone()
    return _version(row) if row else None


def list_versions(conn) -> list[Version]:
    with transaction(conn) as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM model_versions ORDER BY version")
        return [_version(row) for row in cur.fetchall()]


def test_set(conn, version: int) -> dict:
    """The test songs a version was measured on: {"track_ids": [...], "labels": [...]}."""
    with transaction(conn) as cur:
        cur.execute("SELECT test_set FROM model_versions WHERE version = %s", (version,))
        row = cur.fetchone()
    if row is None:
        raise _no_such_version(version)
    return row[0]


def load_model(conn, version: int):
    with transaction(conn) as cur:
        cur.execute("SELECT artifact FROM model_versions WHERE version = %s", (version,))
        row = cur.fetchone()
    if row is None:
        raise _no_such_version(version)
    return model_from_bytes(row[0])


def load_champion(conn):
    """(version, people, keras model) of the champion, or None before the first one."""
    current = champion(conn)
    if current is None:
        return None
    return current.version, list(current.people), load_model(conn, current.version)


# -- writing --------------------------------------------------------------------


def register(
    conn,
    model,
    *,
    people: Sequence[str],
    config: dict,
    fingerprint: str,
    metrics: dict,
    baselines: dict,
    test_set: dict,
) -> int:
    """Store a freshly trained model as a new `candidate` version; returns its number."""
    artifact = model_to_bytes(model)
    with transaction(conn) as cur:
        cur.execute(
            """INSERT INTO model_versions (people, config, data_fingerprint, metrics, baselines,
                                           training_seconds, test_set, artifact)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING version""",
            (
                list(people),
                json.dumps(config),
                fingerprint,
                json.dumps(metrics),
                json.dumps(baselines),
                metrics.get("training_seconds"),
                json.dumps(test_set),
                artifact,
            ),
        )
        version = cur.fetchone()[0]
    log.info("registered model version %s (%d KB)", version, len(artifact) // 1024)
    return version


# The functions below take a cursor: they are steps of one transaction that the
# caller (taskcode.promotion) opens, so a champion move commits whole or not at all.


def lock_champion(cur) -> tuple[int, int | None] | None:
    """(version, the version it replaced) of the champion, held until the transaction ends.

    Takes the registry lock first: two runs moving the champion queue up.
    """
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (REGISTRY_LOCK,))
    cur.execute("SELECT version, replaces FROM model_versions WHERE status = 'champion' FOR UPDATE")
    return cur.fetchone()


def lock_status(cur, version: int) -> str:
    """The status of a version, its row held until the transaction ends."""
    cur.execute("SELECT status FROM model_versions WHERE version = %s FOR UPDATE", (version,))
    row = cur.fetchone()
    if row is None:
        raise _no_such_version(version)
    return row[0]


def move_champion(cur, new: int, old: int | None) -> None:
    """Retire the old champion, then crown the new one.

    In this order because the unique index checks every statement: there is
    never a moment with two champions, even inside the transaction.
    """
    if old is not None:
        cur.execute("UPDATE model_versions SET status = 'retired' WHERE version = %s", (old,))
    cur.execute("UPDATE model_versions SET status = 'champion' WHERE version = %s", (new,))


def reject(cur, version: int) -> None:
    cur.execute("UPDATE model_versions SET status = 'rejected' WHERE version = %s", (version,))


def record_decision(cur, version: int, text: str, *, evidence: dict | None = None, replaces: int | None = None) -> None:
    """The gate's verdict, its numbers and, for a promotion, the champion it replaced (rollback's chain)."""
    cur.execute(
        """UPDATE model_versions SET decision = %s, evidence = %s, replaces = coalesce(%s, replaces)
            WHERE version = %s""",
        (text, json.dumps(evidence) if evidence is not None else None, replaces, version),
    )


def add_to_decision(cur, version: int, text: str) -> None:
    """Append to a version's decision: how it later lost its status."""
    cur.execute(
        "UPDATE model_versions SET decision = coalesce(decision || '; ', '') || %s WHERE version = %s",
        (text, version),
    )


# -- the listing ------------------------------------------------------------------


def format_versions(versions: Sequence[Version]) -> str:
    """`model list`: a line per version, and under it the decision that gave it its status.

    LogReg is the logistic regression on the network's own inputs, audio an
    MLP on the audio features alone. The decision matters to read the F1 column: a challenger is judged against
    the champion measured again on the challenger's test set, so a rejected
    version may show a higher F1 than the champion's (older) own. Gain, its
    95% interval and P (the probability that the version is better) are the
    gate's paired bootstrap on those songs.
    """
    if not versions:
        return "no model versions yet; run: python -m taskcode train"
    lines = [
        f"{'version':>7}  {'status':9}  {'F1':>5}  {'LogReg':>6}  {'audio':>6}  {'gain':>6}  {'95% interval':14}  "
        f"{'P':>5}  {'created':16}  people"
    ]
    for v in versions:
        f1 = _score(v.f1)
        logreg, audio = (
            _score(v.baselines.get(name, {}).get("f1")) for name in ("logistic_regression", "audio_only_mlp")
        )
        gain, interval, probability = _evidence(v.evidence or {})
        created = v.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
        lines.append(
            f"{v.version:>7}  {v.status:9}  {f1:>5}  {logreg:>6}  {audio:>6}  {gain:>6}  {interval:14}  "
            f"{probability:>5}  {created:16}  {', '.join(v.people)}"
        )
        if v.decision:
            lines.append(f"{'':7}  {v.decision}")
    return "\n".join(lines)


def _evidence(evidence: dict) -> tuple[str, str, str]:
    """(gain, 95% interval, probability) as `model list` prints them; "-" for a version not judged so."""
    if evidence.get("difference") is None:
        return "-", "-", "-"
    interval = f"{evidence['low']:+.3f}..{evidence['high']:+.3f}"
    return f"{evidence['difference']:+.3f}", interval, f"{evidence['probability']:.3f}"


def _score(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "-"
