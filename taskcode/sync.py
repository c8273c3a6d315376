"""Liked songs of every registered person into PostgreSQL, incrementally.

Spotify lists liked songs newest first, 50 per page. We keep a watermark per
person (the newest `added_at` stored, and the ids that share it, because an
album liked at once gives many songs the same second) and stop at the first
page that reaches it: a night without new likes costs one call per person.

A person's pages are fetched first, then their new likes and the advanced
watermark are written in ONE transaction (as dlt's incremental cursor does):
a kill at any moment loses nothing, and a re-run duplicates nothing.
`--full` pages everything and marks likes gone from Spotify as removed; an
incremental sync whose first page counts fewer liked songs than we hold
(something was un-liked) does that full pass by itself, in the same run.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections import Counter
from dataclasses import dataclass, field

from taskcode import db, runs, store
from taskcode.config import Settings
from taskcode.errors import AuthorizationError, RetryLater, SpotifyError, TaskcodeError
from taskcode.items import SavedTrack, parse_saved_item
from taskcode.retry import RetryPolicy
from taskcode.spotify import CallCounter, client_for

log = logging.getLogger(__name__)
SYNC_LOCK = 73012  # pg_advisory_lock(SYNC_LOCK, person_id): one sync per person at a time


@dataclass
class PersonResult:
    name: str
    new_likes: int = 0
    removed: int = 0
    pages: int = 0
    skipped: Counter = field(default_factory=Counter)
    missing_fields: int = 0
    error: str | None = None
    authorization_failed: bool = False
    waiting_for_authorization: bool = False
    imported: bool = False  # waiting, but their songs came from an export: nothing is missing

    def as_dict(self) -> dict:
        return {
            "new_likes": self.new_likes,
            "removed": self.removed,
            "pages": self.pages,
            "skipped": dict(self.skipped),
            "missing_fields": self.missing_fields,
            "error": self.error,
        }


@dataclass
class _Fetched:
    new: list[SavedTrack]
    present: set[str]
    stable: bool  # `total` stayed the same on every page: no song slid past us
    complete: bool  # paged to the end with a stable total: safe to mark removals
    total: int | None = None  # Spotify's count of liked songs on the first page


MAX_PASSES = 3  # the list changed while paging: page again from the top, at most this often in all


def register_configured_people(settings: Settings, conn) -> None:
    """Names listed under `users:` in the config exist as people (credentials come later)."""
    if not settings.users:
        return
    with db.transaction(conn) as cur:
        for person in settings.users:
            store.ensure_person(cur, person.name, client_id=person.client_id, client_secret=person.client_secret)


@dataclass(frozen=True)
class Plan:
    people: list[store.PersonRecord]  # in name order
    waiting: list[store.PersonRecord]  # never authorized: they wait without failing the run

    @property
    def ready(self) -> list[store.PersonRecord]:
        return [p for p in self.people if p not in self.waiting]


def plan(settings: Settings, conn, names: list[str] | None) -> Plan:
    """Who is synced: the named people (authorized or not: they fail clearly), else everyone who has authorized."""
    register_configured_people(settings, conn)
    with db.transaction(conn) as cur:
        people = store.get_people(cur, names)
    missing = sorted(set(names or []) - {p.name for p in people})
    if missing:
        raise TaskcodeError(
            f"no person named {missing[0]!r}; register them with: python -m taskcode authorize --user {missing[0]}"
        )
    waiting = [p for p in people if not p.has_token and not names]
    for person in waiting:
        if person.imported:  # a choice, not a fault: their songs come from `import`
            log.info("%s: %s", person.name, _export_only(person.name))
        else:
            log.warning("%s: not authorized yet; run: python -m taskcode authorize --user %s", person.name, person.name)
    return Plan(people, waiting)


def sync_person(
    settings: Settings,
    conn,
    person: store.PersonRecord,
    *,
    full: bool = False,
    counter: CallCounter | None = None,
    policy: RetryPolicy | None = None,
) -> PersonResult:
    """Sync one person; raises a TaskcodeError (one clear line) if it cannot."""
    result = PersonResult(person.name)
    client = client_for(settings, conn, person, counter=counter, policy=policy)
    with db.transaction(conn) as cur:
        cur.execute("SELECT pg_advisory_lock(%s, %s)", (SYNC_LOCK, person.person_id))
    try:
        with db.transaction(conn) as cur:
            mark = store.get_watermark(cur, person.person_id)
        fetched = _fetch(client, settings.spotify.page_size, None if full else mark, result)
        if not full and _unliked_since(conn, person, fetched):
            log.info(
                "%s: Spotify lists fewer liked songs than we hold; paging them all to find the un-liked", person.name
            )
            result.skipped.clear()
            result.missing_fields = 0
            fetched, full = _fetch(client, settings.spotify.page_size, None, result), True
        now = dt.datetime.now(dt.UTC)
        with db.transaction(conn) as cur:
            store.upsert_tracks(cur, (s.track for s in fetched.new))
            result.new_likes = store.upsert_likes(cur, person.person_id, fetched.new)
            if full:
                if fetched.complete:
                    result.removed = store.mark_removed(cur, person.person_id, fetched.present, now)
                else:
                    log.warning("%s: the list changed while paging; removals are checked next time", person.name)
            if fetched.stable:
                store.save_watermark(cur, person.person_id, _advance(mark, fetched.new, full), full=full)
            else:  # a song may have slid past us: the next sync pages down to the old watermark again
                log.warning("%s: the liked songs kept changing while paging; the next sync looks again", person.name)
                store.save_watermark(cur, person.person_id, mark)  # no removal was checked: not a full sync
    finally:
        with db.transaction(conn) as cur:
            cur.execute("SELECT pg_advisory_unlock(%s, %s)", (SYNC_LOCK, person.person_id))
    log.info(
        "%s: %d new likes%s in %d page(s)%s",
        person.name,
        result.new_likes,
        f", {result.removed} removed" if full else "",
        result.pages,
        f"; skipped {dict(result.skipped)}" if result.skipped else "",
    )
    return result


def _unliked_since(conn, person: store.PersonRecord, fetched: _Fetched) -> bool:
    """Spotify's `total` is below the likes we hold plus the new ones: something was un-liked.

    Only "below" counts: items we never store (local files, episodes,
    duplicates) raise `total` for good, and a full pass every night for them
    would cost what a quiet night must not (one call per person).
    """
    if not fetched.stable or not isinstance(fetched.total, int):
        return False  # the list changed while paging: the next sync looks again
    new_ids = [s.track.track_id for s in fetched.new]
    with db.transaction(conn) as cur:
        cur.execute(
            """SELECT count(*) FROM likes
                WHERE person_id = %s AND removed_at IS NULL AND NOT (track_id = ANY(%s))""",
            (person.person_id, new_ids),
        )
        (held,) = cur.fetchone()
    return fetched.total < held + len(new_ids)


def _fetch(client, page_size: int, mark: store.Watermark | None, result: PersonResult) -> _Fetched:
    """Page newest first until the watermark (or the end, when `mark` is None).

    Offsets shift when the person likes or un-likes songs while we page: a
    song un-liked on a page already read moves the first song of the next
    page onto that page, and it would be skipped, while the watermark moves
    past it. Spotify's `total` changes then, so we page again from the top.
    """
    fetched, passes = _fetch_pass(client, page_size, mark, result), 1
    while not fetched.stable and passes < MAX_PASSES:
        log.info("%s: the liked songs changed while paging; paging again from the top", client.name)
        result.skipped.clear()
        result.missing_fields = 0
        fetched, passes = _fetch_pass(client, page_size, mark, result), passes + 1
    return fetched


def _fetch_pass(client, page_size: int, mark: store.Watermark | None, result: PersonResult) -> _Fetched:
    new: list[SavedTrack] = []
    present: set[str] = set()
    totals: set = set()
    offset, reached_known, at_end = 0, False, False
    progress = _progress(client.name)
    try:
        while not reached_known and not at_end:
            page = client.saved_tracks(offset, page_size)
            result.pages += 1
            items = page["items"]
            log.debug("%s: %d item(s) at offset %d of %s", client.name, len(items), offset, page.get("total"))
            totals.add(page.get("total"))
            progress.total = page.get("total") if isinstance(page.get("total"), int) else None
            progress.update(len(items))
            for item in items:
                saved = parse_saved_item(item)
                if isinstance(saved, str):
                    result.skipped[saved] += 1
                    continue
                track_id = saved.track.track_id
                if track_id in present:
                    result.skipped["duplicate"] += 1
                    continue
                present.add(track_id)
                if (
                    mark
                    and mark.added_at
                    and (
                        saved.added_at < mark.added_at
                        or (saved.added_at == mark.added_at and track_id in mark.track_ids)
                    )
                ):
                    reached_known = True  # stored already; the rest of this page may still hold ties
                    continue
                if saved.track.name is None or not saved.track.artists or saved.track.album_id is None:
                    result.missing_fields += 1
                new.append(saved)
            offset += len(items)
            at_end = not items or not page.get("next")
    finally:
        progress.close()
    stable = len(totals) == 1
    total = next(iter(totals)) if stable else None
    return _Fetched(new, present, stable=stable, complete=at_end and stable, total=total)


def _advance(mark: store.Watermark, new: list[SavedTrack], full: bool) -> store.Watermark:
    """The newest added_at stored and its ids; a full sync recomputes it from Spotify's list."""
    if full:
        mark = store.Watermark(None, frozenset())
    if not new:
        return mark
    newest = max(s.added_at for s in new)
    at_newest = frozenset(s.track.track_id for s in new if s.added_at == newest)
    if mark.added_at is None or newest > mark.added_at:
        return store.Watermark(newest, at_newest)
    if newest == mark.added_at:
        return store.Watermark(newest, mark.track_ids | at_newest)
    return mark


class _NoProgress:
    total = None

    def update(self, n):
        pass

    def close(self):
        pass


def _progress(name: str):
    """A progress bar on a terminal; nothing otherwise (log lines say what happened)."""
    if not sys.stderr.isatty():
        return _NoProgress()
    from tqdm import tqdm

    return tqdm(desc=f"{name}: liked songs", unit=" songs", file=sys.stderr, leave=False)


# --------------------------------------------------------------------------
# The command: everyone (or the named people), then the features.


@dataclass
class SyncSummary:
    people: list[PersonResult]
    features: dict | None = None
    api_calls: dict = field(default_factory=dict)

    def failures(self) -> list[PersonResult]:
        return [p for p in self.people if p.error]

    def as_dict(self) -> dict:
        return {
            "people": {p.name: p.as_dict() for p in self.people},
            "waiting_for_authorization": [p.name for p in self.people if p.waiting_for_authorization],
            "features": self.features,
            "api_calls": self.api_calls,
        }


def run(
    settings: Settings,
    conn,
    *,
    names: list[str] | None = None,
    full: bool = False,
    with_features: bool = True,
    counter: CallCounter | None = None,
) -> SyncSummary:
    """Sync everyone (one failing person does not stop the others), then fetch features; one `runs` row.

    Raises RetryLater when Spotify asks us to come back later (the people
    synced so far are kept), and a TaskcodeError naming the people who
    failed, after everyone else was synced.
    """
    counter = counter or CallCounter()
    policy = RetryPolicy(settings.spotify)
    chosen = plan(settings, conn, names)
    summary = SyncSummary([])
    with runs.recorded(conn, "sync") as record:
        try:
            for person in chosen.people:
                if person in chosen.waiting:
                    summary.people.append(
                        PersonResult(person.name, waiting_for_authorization=True, imported=person.imported)
                    )
                else:
                    summary.people.append(_sync_or_note(settings, conn, person, full, counter, policy))
            if with_features:
                from taskcode import features

                try:
                    summary.features = features.fetch_missing(settings, conn, counter=counter, policy=policy).as_dict()
                except features.Incomplete as exc:  # what was found is stored: the run's row says so
                    summary.features = exc.summary.as_dict()
                    raise
        finally:
            summary.api_calls = dict(counter.calls)
            record.summary = summary.as_dict()
        _raise_failures(summary)
    return summary


def _sync_or_note(
    settings: Settings, conn, person: store.PersonRecord, full: bool, counter: CallCounter, policy: RetryPolicy
) -> PersonResult:
    """One person's sync; a Spotify error is noted on their result (the others still run)."""
    try:
        result = sync_person(settings, conn, person, full=full, counter=counter, policy=policy)
    except RetryLater:
        raise
    except SpotifyError as exc:
        log.error("%s", exc)
        return PersonResult(person.name, error=str(exc), authorization_failed=isinstance(exc, AuthorizationError))
    return result


def _raise_failures(summary: SyncSummary) -> None:
    failed = summary.failures()
    if failed:
        first = failed[0]
        others = f" (and {len(failed) - 1} more: {', '.join(p.name for p in failed[1:])})" if len(failed) > 1 else ""
        kind = AuthorizationError if all(p.authorization_failed for p in failed) else SpotifyError
        raise kind(f"sync failed for {first.name}{others}: {first.error}")


def _export_only(name: str) -> str:
    return f"liked songs from an export, not synced (to sync nightly: python -m taskcode authorize --user {name})"


def format_summary(summary: SyncSummary) -> str:
    """The end-of-run summary people read in a terminal or a task log."""
    lines = []
    for person in summary.people:
        if person.imported:
            lines.append(f"{person.name}: {_export_only(person.name)}")
            continue
        if person.waiting_for_authorization:
            lines.append(f"{person.name}: not authorized yet (python -m taskcode authorize --user {person.name})")
            continue
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(person.skipped.items()))
        lines.append(
            f"{person.name}: {person.new_likes} new, {person.removed} removed, {person.pages} page(s)"
            + (f"; skipped {skipped}" if skipped else "")
            + (f"; {person.missing_fields} stored without some fields" if person.missing_fields else "")
        )
    if summary.features:
        found = summary.features["found"]
        lines.append(
            f"features: {summary.features['wanted']} wanted, "
            + (", ".join(f"{n} from {source}" for source, n in found.items()) or "none found")
            + f", {summary.features['unknown']} unknown"
        )
    calls = ", ".join(f"{n} {endpoint}" for endpoint, n in sorted(summary.api_calls.items()))
    lines.append(f"API calls: {sum(summary.api_calls.values())}" + (f" ({calls})" if calls else ""))
    return "\n".join(lines)
