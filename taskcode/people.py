"""Person-level operations: `person remove` deletes a person and everything derived from them.

Spotify's Developer Policy asks that a user who disconnects has their data
deleted. So a removal takes, in one transaction: the person, their token and
sync state, their likes, the songs nobody else likes (with those songs'
features and map points), their discoveries and their sync runs; their name
leaves the owners of the map points that stay, the other runs' summaries and
the model versions' recorded test sets. Songs others like stay, with everything the
others need. The model versions keep the person as one of their classes (an
artifact cannot be edited): the next training runs without them, and its
version replaces the champion (the gate cannot compare models trained for
other people).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from taskcode.errors import TaskcodeError


@dataclass
class Removal:
    name: str
    counts: dict[str, int] = field(default_factory=dict)  # what was deleted, in the order it is reported
    model_versions: list[int] = field(default_factory=list)  # versions trained with the person


def remove_person(cur, name: str) -> Removal:
    """Delete the person and everything derived from them (the caller owns the transaction)."""
    from taskcode.sync import SYNC_LOCK

    cur.execute("SELECT person_id FROM people WHERE name = %s FOR UPDATE", (name,))
    row = cur.fetchone()
    if row is None:
        raise TaskcodeError(f"person remove: no person named {name!r}; python -m taskcode status lists them")
    person_id = row[0]
    cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (SYNC_LOCK, person_id))  # no sync of theirs meanwhile
    cur.execute(
        """SELECT track_id FROM likes l WHERE person_id = %s AND NOT EXISTS (
               SELECT 1 FROM likes o WHERE o.track_id = l.track_id AND o.person_id <> l.person_id)
            ORDER BY track_id""",
        (person_id,),
    )
    only_theirs = [r[0] for r in cur.fetchall()]
    removal = Removal(name)
    deletes = (
        ("likes", "DELETE FROM likes WHERE person_id = %s", person_id),
        ("tokens", "DELETE FROM spotify_tokens WHERE person_id = %s", person_id),
        ("sync states", "DELETE FROM sync_state WHERE person_id = %s", person_id),
        ("discoveries", "DELETE FROM discoveries WHERE person = %s", name),
        ("map points of their songs", "DELETE FROM map_points WHERE track_id = ANY(%s)", only_theirs),
        ("feature rows of their songs", "DELETE FROM audio_features WHERE track_id = ANY(%s)", only_theirs),
        ("feature misses", "DELETE FROM feature_misses WHERE track_id = ANY(%s)", only_theirs),
        ("songs nobody else likes", "DELETE FROM tracks WHERE track_id = ANY(%s)", only_theirs),
        ("sync runs", "DELETE FROM runs WHERE summary->>'person' = %s", name),
    )
    for what, statement, value in deletes:
        cur.execute(statement, (value,))
        removal.counts[what] = cur.rowcount
    _forget_name(cur, name, removal)
    cur.execute("DELETE FROM people WHERE person_id = %s", (person_id,))
    return removal


def _forget_name(cur, name: str, removal: Removal) -> None:
    """Their name out of the rows that stay: map points' owners, run summaries, recorded test sets."""
    cur.execute("UPDATE map_points SET owners = array_remove(owners, %s) WHERE %s = ANY(owners)", (name, name))
    removal.counts["map points no longer naming them"] = cur.rowcount
    cur.execute("SELECT run_id, summary FROM runs WHERE summary::text LIKE %s ORDER BY run_id", (f'%"{name}"%',))
    summaries = cur.fetchall()
    for run_id, summary in summaries:
        cur.execute("UPDATE runs SET summary = %s WHERE run_id = %s", (json.dumps(_without(summary, name)), run_id))
    removal.counts["run summaries no longer naming them"] = len(summaries)
    cur.execute("SELECT version, test_set FROM model_versions WHERE %s = ANY(people) ORDER BY version", (name,))
    for version, test_set in cur.fetchall():
        removal.model_versions.append(version)
        kept = [
            (t, label) for t, label in zip(test_set.get("track_ids", []), test_set.get("labels", [])) if label != name
        ]
        test_set = {**test_set, "track_ids": [t for t, _ in kept], "labels": [label for _, label in kept]}
        cur.execute("UPDATE model_versions SET test_set = %s WHERE version = %s", (json.dumps(test_set), version))


def _without(value, name: str):
    """A run summary with the name gone: keys and list items that are the name, everywhere in it."""
    if isinstance(value, dict):
        return {key: _without(item, name) for key, item in value.items() if key != name}
    if isinstance(value, list):
        return [_without(item, name) for item in value if item != name]
    return value


def format_removal(removal: Removal) -> str:
    done = ", ".join(f"{n} {what}" for what, n in removal.counts.items() if n)
    lines = [f"removed {removal.name}: " + (done or "they had no data yet")]
    if removal.model_versions:
        versions = ", ".join(map(str, removal.model_versions))
        lines.append(
            f"model version(s) {versions} were trained with their likes and keep them as a class; "
            "the next training runs without them: python -m taskcode train, then embed"
        )
    return "\n".join(lines)
