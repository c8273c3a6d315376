"""Popularity and ISRCs from ReccoBeats' track records, for tracks that lack them.

Spotify stopped sending `popularity` to development-mode apps in 2026, and an
account data export names songs without an ISRC. ReccoBeats' `GET /track`
(1-40 Spotify ids) answers both. It runs before the feature sources, so that
the catalog can match an imported song by its ISRC. Each batch is committed
as it arrives; a track ReccoBeats does not know is asked again only after
`features.retry_unknown_after_days`. A failure here costs nothing but this
information: the features stage goes on, and the tracks are asked next run.
"""

from __future__ import annotations

import logging
import re

import requests
from psycopg2.extras import execute_values

from taskcode import db
from taskcode.config import Settings
from taskcode.errors import TaskcodeError
from taskcode.items import isrc_from
from taskcode.retry import MalformedAnswer, RetryPolicy
from taskcode.spotify import CallCounter

log = logging.getLogger(__name__)
BATCH = 40  # ReccoBeats' limit of ids a call
_SPOTIFY_TRACK_URL = re.compile(r"/track/([0-9A-Za-z]{22})")


def fill_missing(
    settings: Settings, conn, *, counter: CallCounter | None = None, policy: RetryPolicy | None = None
) -> dict[str, int]:
    """Ask ReccoBeats about tracks without a popularity (when it is a feature source); returns counts."""
    done = {"asked": 0, "popularity": 0, "isrc": 0}
    if "reccobeats" not in settings.features.sources:
        return done
    with db.transaction(conn) as cur:
        wanted = tracks_lacking_info(cur, settings.features.retry_unknown_after_days)
    session = (counter or CallCounter()).session()
    policy = policy or RetryPolicy(settings.spotify)
    url = settings.features.reccobeats_api_base + "/track"
    for start in range(0, len(wanted), BATCH):
        batch = wanted[start : start + BATCH]
        try:
            content = policy.call(
                "ReccoBeats track records",
                get_content,
                session,
                url,
                batch,
                settings.spotify.timeout_seconds,
                service="ReccoBeats",
            )
        except TaskcodeError as exc:
            log.warning("ReccoBeats: %s; popularity and ISRCs are asked again next run", exc)
            break
        with db.transaction(conn) as cur:
            popularity, isrcs = save_info(cur, batch, content)
        done["asked"] += len(batch)
        done["popularity"] += popularity
        done["isrc"] += isrcs
    if wanted:
        log.info("track records: %(asked)d asked, %(popularity)d popularities, %(isrc)d ISRCs", done)
    return done


def get_content(session: requests.Session, url: str, track_ids: list[str], timeout: float) -> list:
    """One ReccoBeats call by Spotify ids: its `content` list (both of its endpoints answer so)."""
    response = session.get(url, params={"ids": ",".join(track_ids)}, timeout=timeout)
    response.raise_for_status()  # the retry policy reads status, Retry-After and reason from the error
    try:
        answer = response.json()
    except ValueError:
        raise MalformedAnswer("ReccoBeats answered something that is not JSON") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("content"), list):
        raise MalformedAnswer("ReccoBeats answered JSON without a content list")
    return answer["content"]


def tracks_lacking_info(cur, retry_after_days: float) -> list[str]:
    """Tracks without a popularity that ReccoBeats was not asked about lately, oldest first."""
    cur.execute(
        """SELECT track_id FROM tracks
            WHERE popularity IS NULL
              AND (info_checked_at IS NULL OR info_checked_at <= now() - make_interval(secs => %s))
            ORDER BY first_seen_at, track_id""",
        (retry_after_days * 86400,),
    )
    return [row[0] for row in cur.fetchall()]


def save_info(cur, asked: list[str], content: list) -> tuple[int, int]:
    """Popularity and (where Spotify gave none) the ISRC of the asked tracks; every one marked asked."""
    found: dict[str, tuple[int | None, str | None]] = {}
    for record in content:
        match = _SPOTIFY_TRACK_URL.search(str(record.get("href", ""))) if isinstance(record, dict) else None
        if match and match.group(1) in asked:
            found[match.group(1)] = (_popularity(record.get("popularity")), isrc_from(record.get("isrc")))
    rows = [(track_id, *found.get(track_id, (None, None))) for track_id in sorted(asked)]  # one lock order
    execute_values(
        cur,
        """UPDATE tracks t SET popularity = COALESCE(v.popularity::smallint, t.popularity),
                              isrc = COALESCE(t.isrc, v.isrc), info_checked_at = now()
             FROM (VALUES %s) AS v (track_id, popularity, isrc)
            WHERE t.track_id = v.track_id""",
        rows,
        template="(%s, %s::integer, %s::text)",
    )
    return sum(p is not None for p, _ in found.values()), sum(i is not None for _, i in found.values())


def isrcs_of(cur, track_ids: list[str]) -> dict[str, str]:
    """The ISRCs the database knows of these tracks (for the catalog's second way to match)."""
    cur.execute("SELECT track_id, isrc FROM tracks WHERE track_id = ANY(%s) AND isrc IS NOT NULL", (list(track_ids),))
    return dict(cur.fetchall())


def _popularity(value) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if 0 <= value <= 100 else None
