"""Writes of the pipeline's data: people, tracks, likes, features, the map, discoveries.

Every write of synced data is an upsert keyed by the primary key, so that a
re-run can only update rows, never add them twice. Tracks and likes, the big writes of a
first sync, go through COPY into a temporary staging table and then one
`INSERT … SELECT … ON CONFLICT` each: 100k likes cost a handful of round
trips and no SQL text per row (`bench/storage.py` measures it against one
INSERT per row). The smaller writes are batched with `execute_values`. The
caller owns the transaction: a person's likes and their watermark go in one.

Rows of the shared tables (tracks, audio features) are written in key order.
The nightly run syncs people side by side, and two people who like the same
new songs in a different order would otherwise each lock a song the other
needs next: PostgreSQL breaks such a deadlock by aborting one of the syncs.

The `runs` rows are written by `taskcode.runs`, beside the helper every stage
records itself with; the model registry writes `model_versions`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from psycopg2.extras import execute_values

from taskcode.items import SavedTrack, TrackRow
from taskcode.schema import SOURCE_FEATURES

BATCH = 1000
FEATURE_COLUMNS = SOURCE_FEATURES


@dataclass(frozen=True)
class PersonRecord:
    person_id: int
    name: str
    client_id: str | None
    client_secret: str | None
    has_token: bool
    authorized_at: dt.datetime | None = None  # None: before the project recorded it
    imported: bool = False  # has liked songs from an account data export


# -- people -------------------------------------------------------------------


def ensure_person(cur, name: str, *, client_id: str | None = None, client_secret: str | None = None) -> int:
    """Register a person (or update their app credentials); returns person_id."""
    cur.execute(
        """INSERT INTO people (name, client_id, client_secret) VALUES (%s, %s, %s)
           ON CONFLICT (name) DO UPDATE
              SET client_id = COALESCE(EXCLUDED.client_id, people.client_id),
                  client_secret = COALESCE(EXCLUDED.client_secret, people.client_secret)
           RETURNING person_id""",
        (name, client_id, client_secret),
    )
    return cur.fetchone()[0]


def get_people(cur, names: Sequence[str] | None = None) -> list[PersonRecord]:
    cur.execute(
        """SELECT p.person_id, p.name, p.client_id, p.client_secret, t.person_id IS NOT NULL, p.authorized_at,
                  EXISTS (SELECT 1 FROM likes l WHERE l.person_id = p.person_id AND l.source = 'export')
             FROM people p LEFT JOIN spotify_tokens t ON t.person_id = p.person_id
            WHERE %(all)s OR p.name = ANY(%(names)s)
            ORDER BY p.name""",
        {"all": names is None, "names": list(names or [])},
    )
    return [PersonRecord(*row) for row in cur.fetchall()]


def name_of_spotify_user(cur, user_id: str | None) -> str | None:
    """Who registered this Spotify account already (it is unique among people)."""
    cur.execute("SELECT name FROM people WHERE spotify_user_id = %s", (user_id,))
    row = cur.fetchone()
    return row[0] if row else None


def set_spotify_profile(cur, person_id: int, user_id: str | None, display_name: str | None) -> None:
    cur.execute(
        "UPDATE people SET spotify_user_id = %s, display_name = %s WHERE person_id = %s",
        (user_id, display_name, person_id),
    )


def load_token(cur, person_id: int) -> dict | None:
    cur.execute("SELECT token_info FROM spotify_tokens WHERE person_id = %s", (person_id,))
    row = cur.fetchone()
    return row[0] if row else None


def save_token(cur, person_id: int, token_info: dict) -> None:
    """A token refreshed or first stored; the authorization date is `save_authorization`'s."""
    cur.execute(
        """INSERT INTO spotify_tokens (person_id, token_info) VALUES (%s, %s)
           ON CONFLICT (person_id) DO UPDATE SET token_info = EXCLUDED.token_info, updated_at = now()""",
        (person_id, json.dumps(token_info)),
    )


def save_authorization(cur, person_id: int, token_info: dict) -> None:
    """A new authorization: the token, and now as the date its lifetime counts from."""
    save_token(cur, person_id, token_info)
    cur.execute("UPDATE people SET authorized_at = now() WHERE person_id = %s", (person_id,))


def discard_token(cur, person_id: int) -> bool:
    """Spotify refused the refresh token for good (invalid_grant): it must not be tried again."""
    cur.execute("DELETE FROM spotify_tokens WHERE person_id = %s", (person_id,))
    return cur.rowcount > 0


# -- tracks and likes -----------------------------------------------------------


# A track seen again: fill in what the new answer knows, never blank a field,
# and leave the row alone (no new row version) when nothing changed.
# Shared with bench/storage.py, whose row-by-row side must follow the same rules.
TRACK_CONFLICT_RULES = """
ON CONFLICT (track_id) DO UPDATE SET
    name = COALESCE(EXCLUDED.name, tracks.name),
    artists = CASE WHEN cardinality(EXCLUDED.artists) > 0 THEN EXCLUDED.artists ELSE tracks.artists END,
    artist_ids = CASE WHEN cardinality(EXCLUDED.artist_ids) > 0 THEN EXCLUDED.artist_ids ELSE tracks.artist_ids END,
    album_id = COALESCE(EXCLUDED.album_id, tracks.album_id),
    album_name = COALESCE(EXCLUDED.album_name, tracks.album_name),
    release_date = COALESCE(EXCLUDED.release_date, tracks.release_date),
    release_year = COALESCE(EXCLUDED.release_year, tracks.release_year),
    duration_ms = COALESCE(EXCLUDED.duration_ms, tracks.duration_ms),
    explicit = COALESCE(EXCLUDED.explicit, tracks.explicit),
    isrc = COALESCE(EXCLUDED.isrc, tracks.isrc),
    updated_at = now()
WHERE (tracks.name, tracks.album_id, tracks.duration_ms, tracks.explicit, tracks.artists, tracks.isrc)
      IS DISTINCT FROM
      (COALESCE(EXCLUDED.name, tracks.name), COALESCE(EXCLUDED.album_id, tracks.album_id),
       COALESCE(EXCLUDED.duration_ms, tracks.duration_ms),
       COALESCE(EXCLUDED.explicit, tracks.explicit),
       CASE WHEN cardinality(EXCLUDED.artists) > 0 THEN EXCLUDED.artists ELSE tracks.artists END,
       COALESCE(EXCLUDED.isrc, tracks.isrc))
"""


def upsert_tracks(cur, rows: Iterable[TrackRow], *, only_new: bool = False) -> None:
    """Insert new tracks; fill in fields a later answer knows (never blank them), unless `only_new`."""
    unique = {row.track_id: row for row in rows}
    values = [
        (
            r.track_id,
            r.name,
            text_array(r.artists),
            text_array(r.artist_ids),
            r.album_id,
            r.album_name,
            r.release_date,
            r.release_year,
            r.duration_ms,
            r.explicit,
            r.isrc,
        )
        for _, r in sorted(unique.items())  # one lock order for every writer: see the module docstring
    ]
    if not values:
        return
    _stage(
        cur,
        "tracks_incoming",
        """track_id text, name text, artists text[], artist_ids text[],
           album_id text, album_name text, release_date text, release_year integer,
           duration_ms integer, explicit boolean, isrc text""",
        values,
    )
    cur.execute(
        """INSERT INTO tracks (track_id, name, artists, artist_ids, album_id, album_name,
                               release_date, release_year, duration_ms, explicit, isrc)
           SELECT track_id, name, artists, artist_ids, album_id, album_name,
                  release_date, release_year, duration_ms, explicit, isrc
             FROM tracks_incoming ORDER BY track_id
        """
        + ("ON CONFLICT (track_id) DO NOTHING" if only_new else TRACK_CONFLICT_RULES)
    )


def upsert_likes(cur, person_id: int, saved: Iterable[SavedTrack], *, source: str = "spotify") -> int:
    """Store likes (tracks must exist); returns how many are new or came back (an export's keep their date)."""
    unique = {s.track.track_id: s.added_at for s in saved}
    if not unique:
        return 0
    _stage(
        cur,
        "likes_incoming",
        "track_id text, added_at timestamptz",
        [(track_id, added_at.isoformat()) for track_id, added_at in unique.items()],
    )
    dated = "" if source == "export" else " OR likes.added_at <> EXCLUDED.added_at"
    cur.execute(
        """INSERT INTO likes (person_id, track_id, added_at, source)
           SELECT %s, track_id, added_at, %s FROM likes_incoming ORDER BY track_id
           ON CONFLICT (person_id, track_id) DO UPDATE
              SET added_at = EXCLUDED.added_at, removed_at = NULL, source = EXCLUDED.source
            WHERE likes.removed_at IS NOT NULL"""
        + dated,
        (person_id, source),
    )
    return cur.rowcount  # rows inserted or updated; unchanged likes are not counted


def _stage(cur, table: str, columns: str, rows: list[tuple]) -> None:
    """Rows into an empty temporary staging table, with COPY (one round trip, no SQL per row).

    The table lives as long as the connection and empties itself at every
    commit (and with a rollback); TRUNCATE empties it for a second use in the
    same transaction. Rows go as CSV: None becomes NULL (so would an empty
    string, which the rows here never hold: `items` turns "" into None).
    """
    cur.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {table} ({columns}) ON COMMIT DELETE ROWS")
    cur.execute(f"TRUNCATE {table}")
    copy_rows(cur, table, rows)


def copy_rows(cur, target: str, rows: Iterable[tuple]) -> None:
    """Rows into `target` ("table" or "table (columns)") with one COPY, sent as CSV (None is NULL)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    buffer.seek(0)
    cur.copy_expert(f"COPY {target} FROM STDIN WITH (FORMAT csv)", buffer)


def text_array(values: Sequence[str | None]) -> str:
    """A PostgreSQL text[] literal: every element quoted, so commas, braces and quotes stay text."""
    return (
        "{"
        + ",".join("NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
        + "}"
    )


def mark_removed(cur, person_id: int, present: set[str], now: dt.datetime) -> int:
    """Likes no longer on Spotify keep their row, with removed_at set."""
    cur.execute(
        """UPDATE likes SET removed_at = %s
            WHERE person_id = %s AND removed_at IS NULL AND NOT (track_id = ANY(%s))""",
        (now, person_id, list(present)),
    )
    return cur.rowcount


# -- the incremental cursor -------------------------------------------------------


@dataclass(frozen=True)
class Watermark:
    added_at: dt.datetime | None
    track_ids: frozenset[str]


def get_watermark(cur, person_id: int, *, for_update: bool = False) -> Watermark:
    cur.execute(
        "SELECT watermark_added_at, watermark_track_ids FROM sync_state WHERE person_id = %s"
        + (" FOR UPDATE" if for_update else ""),
        (person_id,),
    )
    row = cur.fetchone()
    return Watermark(row[0], frozenset(row[1])) if row else Watermark(None, frozenset())


def save_watermark(cur, person_id: int, mark: Watermark, *, full: bool = False) -> None:
    cur.execute(
        """INSERT INTO sync_state (person_id, watermark_added_at, watermark_track_ids, last_sync_at,
                                   last_full_sync_at)
           VALUES (%s, %s, %s, now(), CASE WHEN %s THEN now() END)
           ON CONFLICT (person_id) DO UPDATE SET
               watermark_added_at = EXCLUDED.watermark_added_at,
               watermark_track_ids = EXCLUDED.watermark_track_ids,
               last_sync_at = now(),
               last_full_sync_at = COALESCE(EXCLUDED.last_full_sync_at, sync_state.last_full_sync_at)""",
        (person_id, mark.added_at, sorted(mark.track_ids), full),
    )


# -- audio features -------------------------------------------------------------


def tracks_without_features(cur, retry_unknown_after_days: float, limit: int | None = None) -> list[str]:
    """Tracks without features, oldest first, skipping recent misses of every source."""
    cur.execute(
        """SELECT t.track_id FROM tracks t
            WHERE NOT EXISTS (SELECT 1 FROM audio_features f WHERE f.track_id = t.track_id)
              AND NOT EXISTS (SELECT 1 FROM feature_misses m WHERE m.track_id = t.track_id
                                 AND m.last_tried_at > now() - make_interval(secs => %s))
            ORDER BY t.first_seen_at, t.track_id
            LIMIT %s""",
        (retry_unknown_after_days * 86400, limit),
    )
    return [row[0] for row in cur.fetchall()]


def upsert_features(cur, rows: Iterable[dict]) -> int:
    """Store feature rows ({track_id, source, danceability, …}); returns rows written."""
    values = [
        (row["track_id"], row["source"], *(row.get(column) for column in FEATURE_COLUMNS))
        for _, row in sorted({r["track_id"]: r for r in rows}.items())  # one lock order, as upsert_tracks
    ]
    if not values:
        return 0
    columns = ", ".join(FEATURE_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in FEATURE_COLUMNS)
    execute_values(
        cur,
        f"""INSERT INTO audio_features (track_id, source, {columns}) VALUES %s
            ON CONFLICT (track_id) DO UPDATE SET source = EXCLUDED.source, {updates}, fetched_at = now()""",
        values,
        page_size=BATCH,
    )
    cur.execute("DELETE FROM feature_misses WHERE track_id = ANY(%s)", ([v[0] for v in values],))
    return len(values)


def record_misses(cur, track_ids: Iterable[str]) -> None:
    ids = sorted(set(track_ids))
    if not ids:
        return
    execute_values(
        cur,
        """INSERT INTO feature_misses (track_id, last_tried_at) VALUES %s
           ON CONFLICT (track_id) DO UPDATE
              SET last_tried_at = EXCLUDED.last_tried_at, tries = feature_misses.tries + 1""",
        [(track_id,) for track_id in ids],
        template="(%s, now())",
        page_size=BATCH,
    )


def resting_sources(cur) -> dict[str, str]:
    """Feature sources that refused us for good lately, with the reason: not asked until they wake."""
    cur.execute("SELECT source, reason FROM feature_source_state WHERE unavailable_until > now()")
    return dict(cur.fetchall())


def rest_source(cur, source: str, until: dt.datetime, reason: str) -> None:
    cur.execute(
        """INSERT INTO feature_source_state (source, unavailable_until, reason) VALUES (%s, %s, %s)
           ON CONFLICT (source) DO UPDATE SET unavailable_until = EXCLUDED.unavailable_until,
                                              reason = EXCLUDED.reason, updated_at = now()""",
        (source, until, reason),
    )


# -- the map and the discoveries -------------------------------------------------


def save_map(cur, version: int, params: dict, points) -> int:
    """A map of this model version with its points (a DataFrame, one row per track), marked complete.

    The points go in with one COPY (a fresh map has no rows to conflict with):
    an INSERT of rows of arrays spends most of its time turning them into SQL
    text. Older maps of the version are superseded; the one before this map
    is kept for the record.
    """
    cur.execute(
        "INSERT INTO maps (model_version, params) VALUES (%s, %s) RETURNING map_id", (version, json.dumps(params))
    )
    map_id = cur.fetchone()[0]
    copy_points(cur, map_id, points)
    cur.execute("UPDATE maps SET complete = true, updated_at = now() WHERE map_id = %s", (map_id,))
    cur.execute(
        """DELETE FROM maps WHERE model_version = %s AND map_id < %s AND map_id NOT IN (
               SELECT map_id FROM maps WHERE model_version = %s AND map_id < %s
                ORDER BY map_id DESC LIMIT 1)""",
        (version, map_id, version, map_id),
    )
    return map_id


def copy_points(cur, map_id: int, points) -> None:
    copy_rows(
        cur,
        """map_points (map_id, track_id, x, y, hidden, probabilities, owners, predicted,
                                  out_of_place, confidence, placed, neighbours)""",
        zip(
            itertools.repeat(map_id),
            points["track_id"],
            points["x"].astype(float).map(repr),
            points["y"].astype(float).map(repr),
            map(real_array, points["hidden"]),
            map(real_array, points["probabilities"]),
            map(text_array, points["owners"]),
            points["predicted"],
            points["out_of_place"].astype(bool),
            points["confidence"].astype(float).map(repr),
            points["placed"],
            map(text_array, points["neighbours"]) if "neighbours" in points else itertools.repeat("{}"),
        ),
    )


def real_array(values) -> str:
    """A real[] literal; 9 significant digits give back every float32 exactly."""
    return "{" + ",".join(f"{float(v):.9g}" for v in values) + "}"


def replace_discoveries(cur, version: int, ranked: dict[str, list[dict]], source: str = "catalog") -> None:
    """This version's songs from one source for these people, best first (a rerun replaces, never adds)."""
    cur.execute(
        "DELETE FROM discoveries WHERE model_version = %s AND source = %s AND person = ANY(%s)",
        (version, source, list(ranked)),
    )
    cur.executemany(
        """INSERT INTO discoveries (model_version, source, person, track_id, name, artists, probability, rank,
                                    owners, probabilities) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        [
            (version, source, person, s["track_id"], s["name"], s["artists"], s["probability"], rank)
            + (s.get("owners", []), list(s.get("probabilities", {}).values()) or None)
            for person, songs in ranked.items()
            for rank, s in enumerate(songs, start=1)
        ],
    )
