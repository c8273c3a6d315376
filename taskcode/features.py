"""Audio features for tracks that have none yet, from the configured sources in order.

Spotify's `/audio-features` answers 403 to every development-mode app, so the
default order is ReccoBeats (40 ids a call, no key), then a local catalog file
in the public "Spotify Tracks Dataset" columns; Spotify (100 ids a call, with
the token of any person whose authorization works) only when configured.
Each source is asked for the tracks the previous ones did not know.

No source or person can stop the stage: an authorization failure, a 4xx, a
5xx after retries, a `Retry-After` over the cap or a `QUOTA_EXCEEDED` ends
that source for this run and the next one is asked. Each batch is stored as
it arrives; the summary's `sources` says what each source did. If tracks are
left that a failed source never saw, one line says so, and a cause waiting
cures (5xx, rate limit, quota) fails the stage with `Incomplete`, a
`RetryLater` (exit 75), so that the scheduler runs it again soon; any other
cause (a 4xx, nobody's token works) does not: asking again at once would get
the same answer, and the next night asks again.

Spotify's 403 is said once in plain words and rests that source for
`features.retry_unknown_after_days`. Each track is fetched once, however many
people like it. A track every source saw and none knew is asked again only
after `features.retry_unknown_after_days`, not every night.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from taskcode import db, runs, schema, store, trackinfo
from taskcode.config import Settings
from taskcode.errors import AuthorizationError, RetryLater, SpotifyError, TaskcodeError
from taskcode.retry import ApiError, RetryPolicy
from taskcode.spotify import CallCounter, SpotifyClient, client_for

log = logging.getLogger(__name__)
# The continuous measures: a record with fewer than half of them is no use.
_MEASURES = tuple(name for name in schema.SOURCE_FEATURES if schema.BY_NAME[name].kind is float)
_SPOTIFY_TRACK_URL = re.compile(r"/track/([0-9A-Za-z]{22})")
DEPRECATION = (
    "Spotify's /audio-features answers 403 for this app: Spotify removed the endpoint for apps "
    "created after 27 November 2024 and, since 9 March 2026, for every development-mode app; only "
    "extended-quota apps still get answers. Asking {fallback} instead."
)


class SourceUnavailable(Exception):
    """The source refuses us for good (not a passing fault): skip it for a while."""


class Incomplete(RetryLater):
    """A source ended for a cause that waiting cures, and tracks it was not asked about wait: run again later."""

    def __init__(self, message: str, summary: FeatureSummary):
        super().__init__(message)
        self.summary = summary


@dataclass
class FeatureSummary:
    """What the stage did; `sources` holds one readable outcome per configured source, in order."""

    wanted: int = 0
    found: dict[str, int] = field(default_factory=dict)
    unknown: int = 0  # asked of every source, known to none: remembered as misses
    waiting: int = 0  # not found, and a source that failed was not asked about them: asked next run
    sources: dict[str, str] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)  # why each skipped or failed source did not help
    malformed: int = 0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


# -- turning answers into rows ---------------------------------------------------


def feature_row(track_id: str, source: str, raw: dict) -> dict | None:
    """Our row from any source's record; None when it lacks usable numbers."""
    row = {"track_id": track_id, "source": source}
    row.update({name: schema.BY_NAME[name].read(raw.get(name)) for name in schema.SOURCE_FEATURES})
    if sum(row[name] is not None for name in _MEASURES) < len(_MEASURES) // 2:
        return None
    return row


# -- the sources ------------------------------------------------------------------


class SpotifySource:
    """`/audio-features` with the first person's token that works; one person's failure moves to the next."""

    name, batch_size = "spotify", 100

    def __init__(self, people: list[store.PersonRecord], open_client: Callable[[store.PersonRecord], SpotifyClient]):
        self._people, self._open_client = list(people), open_client
        self._client: SpotifyClient | None = None
        self.notes: list[str] = []  # whose authorization failed, and why

    def fetch(self, track_ids: list[str], summary: FeatureSummary) -> dict[str, dict]:
        found = {}
        for track_id, raw in zip(track_ids, self._ask(track_ids)):
            if raw is None:
                continue
            row = feature_row(track_id, self.name, raw) if isinstance(raw, dict) else None
            if row is None:
                summary.malformed += 1
            else:
                found[track_id] = row
        return found

    def _ask(self, track_ids: list[str]) -> list:
        while True:
            client = self._current_client()
            try:
                return client.audio_features(track_ids)
            except AuthorizationError as exc:
                log.warning("Spotify audio features: %s; asking with the next person's token", exc)
                self.notes.append(str(exc))
                self._client = None
            except ApiError as exc:
                if exc.status == 403:
                    raise SourceUnavailable(
                        "403 from Spotify's /audio-features (gone for every development-mode app)"
                    ) from None
                raise

    def _current_client(self) -> SpotifyClient:
        while self._client is None:
            if not self._people:
                raise AuthorizationError("Spotify audio features: nobody's Spotify authorization works")
            person = self._people.pop(0)
            try:
                self._client = self._open_client(person)
            except AuthorizationError as exc:
                self.notes.append(str(exc))
        return self._client


class ReccoBeatsSource:
    name, batch_size = "reccobeats", 40
    notes: tuple[str, ...] = ()

    def __init__(self, settings: Settings, session: requests.Session, policy: RetryPolicy):
        self.url = settings.features.reccobeats_api_base + "/audio-features"
        self.session, self.policy = session, policy
        self.timeout = settings.spotify.timeout_seconds

    def fetch(self, track_ids: list[str], summary: FeatureSummary) -> dict[str, dict]:
        content = self.policy.call(
            "ReccoBeats audio features",
            trackinfo.get_content,
            self.session,
            self.url,
            track_ids,
            self.timeout,
            service="ReccoBeats",
        )
        found = {}
        for raw in content:
            # ReccoBeats has ids of its own; Spotify's is only inside `href`.
            match = _SPOTIFY_TRACK_URL.search(str(raw.get("href", ""))) if isinstance(raw, dict) else None
            row = feature_row(match.group(1), self.name, raw) if match else None
            if row is None or row["track_id"] not in track_ids:
                summary.malformed += 1
            else:
                found[row["track_id"]] = row
        return found


class CsvSource:
    name, batch_size = "csv", 5000
    notes: tuple[str, ...] = ()

    def __init__(self, settings: Settings, conn):
        from taskcode.catalog import read_catalog

        self.catalog, self.conn = read_catalog(settings.paths.catalog_csv), conn

    def fetch(self, track_ids: list[str], summary: FeatureSummary) -> dict[str, dict]:
        from taskcode.catalog import catalog_rows

        with db.transaction(self.conn) as cur:
            rows = catalog_rows(self.catalog, track_ids, trackinfo.isrcs_of(cur, track_ids))
        found = {}
        for track_id, raw in zip(rows.index, rows.to_dict("records")):
            row = feature_row(track_id, self.name, raw)
            if row is None:
                summary.malformed += 1
            else:
                found[track_id] = row
        return found


# -- the stage ------------------------------------------------------------------------


def source_plan(settings: Settings, resting: dict[str, str], spotify_people: list) -> list[tuple[str, str | None]]:
    """The configured sources in order, each with the reason it cannot run now (None: it can)."""
    plan = []
    for name in settings.features.sources:
        if name in resting:
            reason = resting[name]
        elif name == "spotify" and not spotify_people:
            reason = "nobody has authorized Spotify yet"
        elif name == "csv" and settings.paths.catalog_csv is None:
            reason = "no catalog file configured (paths.catalog_csv)"
        else:
            reason = None
        plan.append((name, reason))
    return plan


def _source_state(settings: Settings, conn) -> tuple[dict[str, str], list[store.PersonRecord]]:
    """The sources resting after a refusal, and whose tokens may ask Spotify (when it is a source)."""
    with db.transaction(conn) as cur:
        resting = store.resting_sources(cur)
        authorized = [p for p in store.get_people(cur) if p.has_token] if "spotify" in settings.features.sources else []
    return resting, authorized


def _open_source(name: str, settings: Settings, conn, people, counter: CallCounter, policy: RetryPolicy):
    if name == "spotify":
        return SpotifySource(people, lambda person: client_for(settings, conn, person, counter=counter, policy=policy))
    if name == "reccobeats":
        return ReccoBeatsSource(settings, counter.session(), policy)
    return CsvSource(settings, conn)


def run(settings: Settings, conn) -> FeatureSummary:
    """The features stage on its own (the `features` command, the nightly task), with its `runs` row."""
    with runs.recorded(conn, "features") as record:
        try:
            summary = fetch_missing(settings, conn)
        except Incomplete as exc:
            record.summary = exc.summary.as_dict()
            raise
        record.summary = summary.as_dict()
    return summary


def fetch_missing(
    settings: Settings, conn, *, counter: CallCounter | None = None, policy: RetryPolicy | None = None
) -> FeatureSummary:
    """Features for every track that has none (each batch committed as it arrives).

    Raises Incomplete (a RetryLater) after every source had its turn, when one ended for a
    passing cause and tracks it was not asked about are still without features.
    """
    counter = counter or CallCounter()
    policy = policy or RetryPolicy(settings.spotify)
    trackinfo.fill_missing(settings, conn, counter=counter, policy=policy)  # first: ISRCs let the catalog match
    summary = FeatureSummary()
    with db.transaction(conn) as cur:
        wanted = store.tracks_without_features(cur, settings.features.retry_unknown_after_days)
    summary.wanted = len(wanted)
    if not wanted:
        return summary
    remaining, not_asked, failures = list(wanted), set(), {}
    resting, people = _source_state(settings, conn)
    for name, reason in source_plan(settings, resting, people):
        if reason is not None:
            summary.sources[name] = f"skipped: {reason}"
            summary.unavailable[name] = reason
        elif not remaining:
            summary.sources[name] = "not asked: every track was found before"
        else:
            source = _open_source(name, settings, conn, people, counter, policy)
            asked = _fetch_from(source, remaining, conn, summary)
            remaining = asked.missing
            not_asked |= asked.not_asked
            _note_outcome(settings, conn, source, asked, summary)
            if asked.stopped is not None and not isinstance(asked.stopped, SourceUnavailable):
                failures[name] = asked.stopped
    misses = [t for t in remaining if t not in not_asked]
    with db.transaction(conn) as cur:
        store.record_misses(cur, misses)
    summary.unknown, summary.waiting = len(misses), len(remaining) - len(misses)
    log.info(
        "features: %d wanted, found %s, %d unknown to every source (asked again in %g days)",
        summary.wanted,
        summary.found or "none",
        summary.unknown,
        settings.features.retry_unknown_after_days,
    )
    if failures and summary.waiting:
        _end_incomplete(summary, failures)
    return summary


@dataclass
class _Asked:
    """One source's turn: the ids still without features, those it never got to, and why it stopped early."""

    missing: list[str]
    not_asked: set[str] = field(default_factory=set)
    stopped: Exception | None = None
    found: int = 0


def _fetch_from(source, track_ids: list[str], conn, summary: FeatureSummary) -> _Asked:
    """Ask one source about these tracks, batch by batch, storing each batch; a failure ends its turn."""
    asked = _Asked([])
    for start in range(0, len(track_ids), source.batch_size):
        batch = track_ids[start : start + source.batch_size]
        try:
            found = source.fetch(batch, summary)
        except (SourceUnavailable, SpotifyError) as exc:
            rest = track_ids[start:]
            asked.missing.extend(rest)
            asked.stopped = exc
            if not isinstance(exc, SourceUnavailable):  # gone for good: as if it had said "unknown"
                asked.not_asked = set(rest)
            break
        with db.transaction(conn) as cur:
            store.upsert_features(cur, found.values())
        asked.found += len(found)
        asked.missing.extend(t for t in batch if t not in found)
    summary.found[source.name] = summary.found.get(source.name, 0) + asked.found
    return asked


def _note_outcome(settings: Settings, conn, source, asked: _Asked, summary: FeatureSummary) -> None:
    """The source's line in the summary (and the log); a source gone for good rests for a while."""
    notes = f" ({'; '.join(source.notes)})" if source.notes else ""
    exc = asked.stopped
    if exc is None:
        summary.sources[source.name] = f"ok: {asked.found} found{notes}"
        return
    if isinstance(exc, SourceUnavailable):
        log.warning(DEPRECATION.format(fallback=_next_source_name(settings, source.name)))
        _rest(settings, conn, source.name, str(exc))
        summary.unavailable[source.name] = str(exc)
        summary.sources[source.name] = f"unavailable, resting: {exc}"
        return
    summary.unavailable[source.name] = f"{exc}{notes}"
    summary.sources[source.name] = f"failed after {asked.found} found: {exc}{notes}"
    log.warning("features: %s failed, asking the next source: %s%s", source.name, exc, notes)


def _end_incomplete(summary: FeatureSummary, failures: dict[str, Exception]) -> None:
    """One line on what is kept and what waits; raised as Incomplete when waiting may cure it."""
    ran = [name for name, outcome in summary.sources.items() if outcome.startswith(("ok", "failed"))]
    who = "every feature source failed" if set(ran) <= set(failures) else f"{' and '.join(failures)} failed"
    line = (
        f"features: {who} ({'; '.join(str(exc) for exc in failures.values())}); "
        f"kept the {sum(summary.found.values())} features found so far, "
        f"{summary.waiting} tracks wait for the next run"
    )
    if any(isinstance(exc, RetryLater) for exc in failures.values()):
        raise Incomplete(line, summary)
    log.warning("%s", line)


def _next_source_name(settings: Settings, name: str) -> str:
    order = list(settings.features.sources)
    rest = order[order.index(name) + 1 :]
    return " then ".join(rest) if rest else "no other source (add reccobeats or csv to features.sources)"


def _rest(settings: Settings, conn, source: str, reason: str) -> None:
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=settings.features.retry_unknown_after_days)
    with db.transaction(conn) as cur:
        store.rest_source(cur, source, until, reason)


def lookup(settings: Settings, conn, track_ids: list[str]) -> dict[str, dict]:
    """Features of tracks that are not in the database (for `predict`); nothing is stored."""
    counter, policy, summary = CallCounter(), RetryPolicy(settings.spotify), FeatureSummary()
    found: dict[str, dict] = {}
    remaining = list(track_ids)
    resting, people = _source_state(settings, conn)
    for name, reason in source_plan(settings, resting, people):
        if reason is not None:
            continue
        source = _open_source(name, settings, conn, people, counter, policy)
        try:
            for start in range(0, len(remaining), source.batch_size):
                found.update(source.fetch(remaining[start : start + source.batch_size], summary))
        except (SourceUnavailable, TaskcodeError) as exc:
            log.info("%s could not help: %s", source.name, exc)
        remaining = [t for t in remaining if t not in found]
        if not remaining:
            break
    return found
