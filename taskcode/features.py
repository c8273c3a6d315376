"""Audio features for tracks that have none yet, from the configured sources.

Spotify's `/audio-features` answers 403 to apps created after 2024-11-27, so
features may come from elsewhere; the sources are tried in the configured
order, each for the tracks the previous ones did not know:

- `spotify`: `/audio-features`, 100 ids a call;
- `reccobeats`: the ReccoBeats API, 40 ids a call, no key;
- `csv`: a local catalog file in the public "Spotify Tracks Dataset" columns.

Each track is fetched once, however many people like it, and the source is
stored beside its features. A track no source knows is asked about again
only after `features.retry_unknown_after_days`, not every night.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field

import requests

from taskcode import db, runs, schema, store, trackinfo
from taskcode.config import Settings
from taskcode.errors import TaskcodeError
from taskcode.retry import ApiError, HTTPFailure, MalformedAnswer, RetryPolicy
from taskcode.spotify import CallCounter, SpotifyClient, client_for

log = logging.getLogger(__name__)
# The continuous measures: a record with fewer than half of them is no use.
_MEASURES = tuple(name for name in schema.SOURCE_FEATURES if schema.BY_NAME[name].kind is float)
_SPOTIFY_TRACK_URL = re.compile(r"/track/([0-9A-Za-z]{22})")
DEPRECATION = (
    "Spotify's /audio-features answers 403 for this app: Spotify removed the endpoint for apps "
    "created after 27 November 2024. Using {fallback} instead."
)


class SourceUnavailable(Exception):
    """The source refuses us for good (not a passing fault): skip it for a while."""


@dataclass
class FeatureSummary:
    wanted: int = 0
    found: dict[str, int] = field(default_factory=dict)
    unknown: int = 0
    unavailable: dict[str, str] = field(default_factory=dict)
    malformed: int = 0

    def as_dict(self) -> dict:
        return {
            "wanted": self.wanted,
            "found": self.found,
            "unknown": self.unknown,
            "unavailable": self.unavailable,
            "malformed": self.malformed,
        }


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
    name, batch_size = "spotify", 100

    def __init__(self, client: SpotifyClient):
        self.client = client

    def fetch(self, track_ids: list[str], summary: FeatureSummary) -> dict[str, dict]:
        try:
            answer = self.client.audio_features(track_ids)
        except ApiError as exc:
            if exc.status == 403:
                raise SourceUnavailable("403 from /audio-features (removed for new apps)") from None
            raise
        found = {}
        for track_id, raw in zip(track_ids, answer):
            if raw is None:
                continue
            row = feature_row(track_id, self.name, raw) if isinstance(raw, dict) else None
            if row is None:
                summary.malformed += 1
            else:
                found[track_id] = row
        return found


class ReccoBeatsSource:
    name, batch_size = "reccobeats", 40

    def __init__(self, settings: Settings, session: requests.Session, policy: RetryPolicy):
        self.url = settings.features.reccobeats_api_base + "/audio-features"
        self.session, self.policy = session, policy
        self.timeout = settings.spotify.timeout_seconds

    def fetch(self, track_ids: list[str], summary: FeatureSummary) -> dict[str, dict]:
        answer = self.policy.call("ReccoBeats audio features", self._get, track_ids)
        found = {}
        for raw in answer["content"]:
            # ReccoBeats has ids of its own; Spotify's is only inside `href`.
            match = _SPOTIFY_TRACK_URL.search(str(raw.get("href", ""))) if isinstance(raw, dict) else None
            row = feature_row(match.group(1), self.name, raw) if match else None
            if row is None or row["track_id"] not in track_ids:
                summary.malformed += 1
            else:
                found[row["track_id"]] = row
        return found

    def _get(self, track_ids: list[str]) -> dict:
        response = self.session.get(self.url, params={"ids": ",".join(track_ids)}, timeout=self.timeout)
        if response.status_code >= 400:
            raise HTTPFailure(
                response.status_code,
                f"ReccoBeats answered {response.status_code}",
                retry_after=_retry_after(response),
            )
        try:
            answer = response.json()
        except ValueError:
            raise MalformedAnswer("ReccoBeats answered something that is not JSON") from None
        if not isinstance(answer, dict) or not isinstance(answer.get("content"), list):
            raise MalformedAnswer("ReccoBeats answered JSON without a content list")
        return answer


class CsvSource:
    name, batch_size = "csv", 5000

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


def _retry_after(response: requests.Response) -> float | None:
    from taskcode.retry import parse_retry_after

    return parse_retry_after(response.headers.get("Retry-After"))


# -- the stage ------------------------------------------------------------------------


def source_plan(settings: Settings, resting: dict[str, str], spotify_person) -> list[tuple[str, str | None]]:
    """The configured sources in order, each with the reason it cannot run now (None: it can)."""
    plan = []
    for name in settings.features.sources:
        if name in resting:
            reason = resting[name]
        elif name == "spotify" and spotify_person is None:
            reason = "nobody has authorized Spotify yet"
        elif name == "csv" and settings.paths.catalog_csv is None:
            reason = "no catalog file configured (paths.catalog_csv)"
        else:
            reason = None
        plan.append((name, reason))
    return plan


def _source_state(settings: Settings, conn) -> tuple[dict[str, str], store.PersonRecord | None]:
    """The sources resting after a refusal, and whose token asks Spotify (when it is a source)."""
    with db.transaction(conn) as cur:
        resting = store.resting_sources(cur)
        authorized = [p for p in store.get_people(cur) if p.has_token] if "spotify" in settings.features.sources else []
    return resting, (authorized[0] if authorized else None)


def _open_source(name: str, settings: Settings, conn, person, counter: CallCounter, policy: RetryPolicy):
    if name == "spotify":
        return SpotifySource(client_for(settings, conn, person, counter=counter, policy=policy))
    if name == "reccobeats":
        return ReccoBeatsSource(settings, counter.session(), policy)
    return CsvSource(settings, conn)


def run(settings: Settings, conn) -> FeatureSummary:
    """The features stage on its own (the `features` command, the nightly task), with its `runs` row."""
    with runs.recorded(conn, "features") as record:
        summary = fetch_missing(settings, conn)
        record.summary = summary.as_dict()
    return summary


def fetch_missing(
    settings: Settings, conn, *, counter: CallCounter | None = None, policy: RetryPolicy | None = None
) -> FeatureSummary:
    """Features for every track that has none (each batch committed as it arrives)."""
    counter = counter or CallCounter()
    policy = policy or RetryPolicy(settings.spotify)
    trackinfo.fill_missing(settings, conn, counter=counter, policy=policy)  # first: ISRCs let the catalog match
    summary = FeatureSummary()
    with db.transaction(conn) as cur:
        wanted = store.tracks_without_features(cur, settings.features.retry_unknown_after_days)
    summary.wanted = len(wanted)
    if not wanted:
        return summary
    remaining = list(wanted)
    resting, person = _source_state(settings, conn)
    for name, reason in source_plan(settings, resting, person):
        if reason is not None:
            summary.unavailable[name] = reason
            continue
        if not remaining:
            break
        source = _open_source(name, settings, conn, person, counter, policy)
        try:
            remaining = _fetch_from(source, remaining, conn, summary)
        except SourceUnavailable as exc:
            fallback = _next_source_name(settings, source.name)
            log.warning(DEPRECATION.format(fallback=fallback) if source.name == "spotify" else f"{source.name}: {exc}")
            summary.unavailable[source.name] = str(exc)
            _rest(settings, conn, source.name, str(exc))
    with db.transaction(conn) as cur:
        store.record_misses(cur, remaining)
    summary.unknown = len(remaining)
    log.info(
        "features: %d wanted, found %s, %d unknown to every source (asked again in %g days)",
        summary.wanted,
        summary.found or "none",
        summary.unknown,
        settings.features.retry_unknown_after_days,
    )
    return summary


def _fetch_from(source, track_ids: list[str], conn, summary: FeatureSummary) -> list[str]:
    """Ask one source about these tracks; returns the ids it did not know."""
    missing = []
    for start in range(0, len(track_ids), source.batch_size):
        batch = track_ids[start : start + source.batch_size]
        found = source.fetch(batch, summary)
        with db.transaction(conn) as cur:
            store.upsert_features(cur, found.values())
        summary.found[source.name] = summary.found.get(source.name, 0) + len(found)
        missing.extend(t for t in batch if t not in found)
    return missing


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
    resting, person = _source_state(settings, conn)
    for name, reason in source_plan(settings, resting, person):
        if reason is not None:
            continue
        source = _open_source(name, settings, conn, person, counter, policy)
        try:
            for start in range(0, len(remaining), source.batch_size):
                found.update(source.fetch(remaining[start : start + source.batch_size], summary))
        except (SourceUnavailable, TaskcodeError) as exc:
            log.info("%s could not help: %s", source.name, exc)
        remaining = [t for t in remaining if t not in found]
        if not remaining:
            break
    return found
