"""The dashboard's questions to PostgreSQL: read-only, plain SQL, small answers.

Every function takes a connection from `read_only(url)` and returns a pandas
DataFrame or a small dict. User input only ever travels as a query
parameter (`%s`), never formatted into the SQL text.

The connection is read-only on the server side
(`default_transaction_read_only`), so a dashboard bug cannot write, and it
runs in autocommit: each statement sees the data committed when it starts
and holds no transaction open between page loads. That is what lets the
dashboard run while the nightly job writes: a half-written map is never
seen, because readers only look at maps marked `complete`, and the pipeline
writes a map's points and that flag in one transaction.

Large columns the dashboard never shows (`model_versions.artifact`,
`map_points.hidden`) are never selected.
"""

from __future__ import annotations

import contextlib
import datetime as dt

import pandas as pd
import psycopg2

from taskcode.db import describe_url
from taskcode.errors import DatabaseError
from taskcode.status import lifetime_days, token_outlook, token_warning

# The tables the pages read; a database without them has not been migrated.
TABLES = (
    "people",
    "tracks",
    "likes",
    "audio_features",
    "feature_misses",
    "sync_state",
    "runs",
    "model_versions",
    "maps",
    "map_points",
    "discoveries",
)
CONNECT_TIMEOUT_SECONDS = 5
STATEMENT_TIMEOUT = "30s"


# --------------------------------------------------------------------------
# Connections


def connect(url: str):
    """A read-only, autocommit connection; an unreachable server is a one-line DatabaseError."""
    try:
        conn = psycopg2.connect(
            url,
            application_name="dashboard",
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            options=f"-c default_transaction_read_only=on -c statement_timeout={STATEMENT_TIMEOUT}",
        )
    except psycopg2.OperationalError as exc:
        text = str(exc).strip()
        reason = text.splitlines()[0] if text else "no answer"
        raise DatabaseError(
            f"cannot connect to PostgreSQL at {describe_url(url)} ({reason.replace(url, describe_url(url))}); "
            "check DATABASE_URL and that the server is running"
        ) from None
    conn.autocommit = True
    return conn


@contextlib.contextmanager
def read_only(url: str):
    """`with read_only(url) as conn:` - opened for a few questions, then closed."""
    conn = connect(url)
    try:
        yield conn
    finally:
        conn.close()


def _frame(conn, sql: str, params=None) -> pd.DataFrame:
    """Run one SELECT; its rows as a DataFrame (columns named as in the SELECT)."""
    with conn.cursor() as cur:
        cur.execute(sql, params)
        columns = [column.name for column in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=columns)


def _row(conn, sql: str, params=None) -> dict | None:
    """Run one SELECT; its first row as a dict, or None."""
    with conn.cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([column.name for column in cur.description], row))


# --------------------------------------------------------------------------
# Is there anything to show?


def missing_tables(conn) -> list[str]:
    """The tables of TABLES that do not exist (the database needs `db migrate`)."""
    frame = _frame(
        conn,
        "SELECT name FROM unnest(%s::text[]) AS name WHERE to_regclass(name) IS NULL",
        (list(TABLES),),
    )
    return frame["name"].tolist()


def overview(conn) -> dict:
    """Headline numbers: people, tracks, tracks with features, versions, complete maps."""
    return _row(
        conn,
        """SELECT (SELECT count(*) FROM people) AS people,
                  (SELECT count(*) FROM tracks) AS tracks,
                  (SELECT count(*) FROM audio_features) AS tracks_with_features,
                  (SELECT count(*) FROM likes WHERE removed_at IS NULL) AS likes,
                  (SELECT count(*) FROM model_versions) AS versions,
                  (SELECT max(version) FROM model_versions WHERE status = 'champion') AS champion,
                  (SELECT count(*) FROM maps WHERE complete) AS maps""",
    )


# --------------------------------------------------------------------------
# Data page


def people(conn, token_lifetime_days: float | None = None) -> pd.DataFrame:
    """One row per person: current likes, removed likes, last (full) sync, and their Spotify authorization.

    The token columns are `status --json`'s (`taskcode.status.token_outlook`;
    the lifetime defaults to the setting's default) and `status`'s warning
    with the command to run: whether a token is stored is read, never the
    token itself.
    """
    frame = _frame(
        conn,
        """SELECT p.name AS person,
                  count(l.track_id) FILTER (WHERE l.removed_at IS NULL) AS likes,
                  count(l.track_id) FILTER (WHERE l.removed_at IS NOT NULL) AS removed,
                  max(l.added_at) FILTER (WHERE l.removed_at IS NULL) AS newest_like,
                  s.last_sync_at AS last_sync,
                  s.last_full_sync_at AS last_full_sync,
                  p.authorized_at,
                  EXISTS (SELECT 1 FROM spotify_tokens t WHERE t.person_id = p.person_id) AS has_token
             FROM people p
             LEFT JOIN likes l ON l.person_id = p.person_id
             LEFT JOIN sync_state s ON s.person_id = p.person_id
            GROUP BY p.person_id, p.name, s.last_sync_at, s.last_full_sync_at, p.authorized_at
            ORDER BY p.name""",
    )
    now, lifetime = dt.datetime.now(dt.UTC), token_lifetime_days or lifetime_days()
    outlook = [
        token_outlook(None if pd.isna(at) else at.to_pydatetime(), has_token, lifetime, now)
        for at, has_token in zip(frame["authorized_at"], frame["has_token"], strict=True)
    ]
    frame["token_expires_at"] = pd.to_datetime([o["token_expires_at"] for o in outlook], utc=True)
    frame["needs_authorize"] = [o["needs_authorize"] for o in outlook]
    frame["warning"] = [token_warning(name, o, now) for name, o in zip(frame["person"], outlook, strict=True)]
    return frame.drop(columns="has_token")


def feature_coverage(conn) -> pd.DataFrame:
    """Where each person's current likes got their audio features (long form).

    `source` is a feature source (spotify, reccobeats, csv), or 'unknown'
    (every source was asked and none knew it) or 'not fetched yet'.
    """
    return _frame(
        conn,
        """SELECT p.name AS person,
                  COALESCE(f.source,
                           CASE WHEN m.track_id IS NOT NULL THEN 'unknown' ELSE 'not fetched yet' END
                  ) AS source,
                  count(*) AS tracks
             FROM likes l
             JOIN people p ON p.person_id = l.person_id
             LEFT JOIN audio_features f ON f.track_id = l.track_id
             LEFT JOIN feature_misses m ON m.track_id = l.track_id
            WHERE l.removed_at IS NULL
            GROUP BY 1, 2
            ORDER BY 1, 2""",
    )


def recent_runs(conn, limit: int = 20) -> pd.DataFrame:
    """The newest runs (sync, features, train, embed, ...) with their summaries."""
    return _frame(
        conn,
        """SELECT run_id, kind, status, started_at, finished_at,
                  extract(epoch FROM finished_at - started_at)::float AS seconds,
                  summary
             FROM runs
            ORDER BY started_at DESC, run_id DESC
            LIMIT %s""",
        (limit,),
    )


# --------------------------------------------------------------------------
# Model page


def model_versions(conn) -> pd.DataFrame:
    """Every version, oldest first, with its headline metrics.

    `promoted` is true for versions that served as champion (the current
    champion, and retired ones that an even better version replaced). The
    gate's evidence: `gain` over what it was `judged_against`, its 95%
    interval (`gain_low`, `gain_high`) and `probability_better`.
    """
    return _frame(
        conn,
        """SELECT version, created_at, status, people,
                  (metrics->>'f1')::float AS f1,
                  (metrics->>'roc_auc')::float AS roc_auc,
                  (metrics->>'accuracy')::float AS accuracy,
                  (metrics->>'majority_f1')::float AS majority_f1,
                  decision, training_seconds,
                  status IN ('champion', 'retired') AS promoted,
                  evidence->>'reference' AS judged_against,
                  (evidence->>'difference')::float AS gain,
                  (evidence->>'low')::float AS gain_low,
                  (evidence->>'high')::float AS gain_high,
                  (evidence->>'probability')::float AS probability_better
             FROM model_versions
            ORDER BY version""",
    )


def model_version(conn, version: int) -> dict | None:
    """One version with its full metrics and baselines (JSON as dicts)."""
    return _row(
        conn,
        """SELECT version, created_at, status, people, config, data_fingerprint,
                  metrics, baselines, decision, training_seconds
             FROM model_versions WHERE version = %s""",
        (version,),
    )


def champion(conn) -> dict | None:
    """The champion version (number, people, F1), or None before the first promotion."""
    return _row(
        conn,
        """SELECT version, people, created_at, (metrics->>'f1')::float AS f1
             FROM model_versions WHERE status = 'champion'""",
    )


# --------------------------------------------------------------------------
# Map page


def newest_maps(conn) -> pd.DataFrame:
    """The newest complete map of each model version, newest first (no point counts:
    counting every map's points would grow with every night)."""
    return _frame(
        conn,
        """SELECT * FROM (
               SELECT DISTINCT ON (m.model_version)
                      m.map_id, m.model_version, v.status, v.people, m.created_at, m.updated_at
                 FROM maps m JOIN model_versions v ON v.version = m.model_version
                WHERE m.complete
                ORDER BY m.model_version, m.updated_at DESC, m.map_id DESC) AS newest
            ORDER BY updated_at DESC, map_id DESC""",
    )


def map_points(conn, map_id: int) -> pd.DataFrame:
    """The points of a complete map (none for an incomplete one), with track names.

    `probabilities[i]` belongs to the model version's `people[i]`; `owners`
    are the people who like the song now (several: a shared song).
    """
    return _frame(
        conn,
        """SELECT p.track_id, t.name, array_to_string(t.artists, ', ') AS artists,
                  p.x, p.y, p.probabilities, p.owners, p.predicted,
                  p.out_of_place, p.confidence, p.placed
             FROM map_points p
             JOIN maps m ON m.map_id = p.map_id AND m.complete
             JOIN tracks t ON t.track_id = p.track_id
            WHERE p.map_id = %s
            ORDER BY p.track_id""",
        (map_id,),
    )


def neighbours_of(conn, map_id: int, track_ids) -> pd.DataFrame:
    """Each song's nearest songs in the model's hidden space (the map's "why"), nearest first.

    One row per (track_id, rank): the neighbour's id, name, artists and its
    owners on that map. Songs of a map drawn before neighbours were stored
    have none.
    """
    return _frame(
        conn,
        """SELECT p.track_id, n.rank::int AS rank, n.neighbour_id, t.name,
                  array_to_string(t.artists, ', ') AS artists, COALESCE(q.owners, '{}') AS owners
             FROM map_points p
             JOIN maps m ON m.map_id = p.map_id AND m.complete
             CROSS JOIN LATERAL unnest(p.neighbours) WITH ORDINALITY AS n(neighbour_id, rank)
             JOIN tracks t ON t.track_id = n.neighbour_id
             LEFT JOIN map_points q ON q.map_id = p.map_id AND q.track_id = n.neighbour_id
            WHERE p.map_id = %s AND p.track_id = ANY(%s)
            ORDER BY p.track_id, n.rank""",
        (map_id, list(track_ids)),
    )


def neighbours(conn, map_id: int, track_id: str) -> pd.DataFrame:
    """One song's nearest songs on a map (columns as `neighbours_of`, without track_id)."""
    return neighbours_of(conn, map_id, [track_id]).drop(columns="track_id")


# --------------------------------------------------------------------------
# "Whose song is it?" page


def track(conn, track_id: str) -> dict | None:
    """A stored track: name, artists, current owners, feature source; None if unknown."""
    return _row(
        conn,
        """SELECT t.track_id, t.name, array_to_string(t.artists, ', ') AS artists,
                  t.album_name, t.release_year,
                  ARRAY(SELECT p.name FROM likes l JOIN people p ON p.person_id = l.person_id
                         WHERE l.track_id = t.track_id AND l.removed_at IS NULL
                         ORDER BY p.name) AS owners,
                  f.source AS feature_source
             FROM tracks t LEFT JOIN audio_features f ON f.track_id = t.track_id
            WHERE t.track_id = %s""",
        (track_id,),
    )


def prediction(conn, track_id: str, version: int) -> dict | None:
    """A version's stored answer for a track: its newest complete map, else its discoveries; None if neither.

    Returns {version, map_id, people, probabilities: {person: p}, predicted,
    confidence, owners, out_of_place, placed, source ('map', 'household' or
    'catalog'), name, artists}; a discovery has no map_id nor placed.
    """
    row = _row(
        conn,
        """WITH newest AS (
               SELECT map_id FROM maps
                WHERE complete AND model_version = %s
                ORDER BY updated_at DESC, map_id DESC
                LIMIT 1)
           SELECT m.model_version AS version, m.map_id, v.people, p.probabilities,
                  p.predicted, p.confidence, p.owners, p.out_of_place, p.placed, 'map' AS source,
                  t.name, array_to_string(t.artists, ', ') AS artists
             FROM newest
             JOIN maps m ON m.map_id = newest.map_id
             JOIN model_versions v ON v.version = m.model_version
             JOIN map_points p ON p.map_id = m.map_id
             JOIN tracks t ON t.track_id = p.track_id
            WHERE p.track_id = %s""",
        (version, track_id),
    ) or _discovered(conn, track_id, version)
    if row is not None:
        row["probabilities"] = dict(zip(row["people"], row["probabilities"]))
    return row


def _discovered(conn, track_id: str, version: int) -> dict | None:
    """The answer stored with a household pick or a catalog song (household first: it has owners)."""
    row = _row(
        conn,
        """SELECT d.model_version AS version, NULL AS map_id, v.people, d.probabilities,
                  d.owners, NULL AS placed, d.source, d.name, d.artists
             FROM discoveries d JOIN model_versions v ON v.version = d.model_version
            WHERE d.model_version = %s AND d.track_id = %s AND d.probabilities IS NOT NULL
            ORDER BY d.source = 'household' DESC
            LIMIT 1""",
        (version, track_id),
    )
    if row is not None:
        best = max(range(len(row["people"])), key=row["probabilities"].__getitem__)
        row["predicted"], row["confidence"] = row["people"][best], row["probabilities"][best]
        row["out_of_place"] = bool(row["owners"]) and row["predicted"] not in row["owners"]
    return row


# --------------------------------------------------------------------------
# Discover page


def discoveries(conn, version: int) -> pd.DataFrame:
    """Each person's household picks, then catalog songs, for a model version, best first.

    `owners`: who likes a household pick (empty for a catalog song).
    """
    return _frame(
        conn,
        """SELECT person, source, rank, track_id, name, artists, probability, owners
             FROM discoveries
            WHERE model_version = %s
            ORDER BY person, source = 'catalog', rank, track_id""",
        (version,),
    )
