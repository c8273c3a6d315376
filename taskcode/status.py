"""`status --json`: the one summary other tools (and the README) rely on.

It also says who must authorize Spotify again: refresh tokens expire a fixed
time after the person's authorization (refreshing does not extend them), so
`status` and the dashboard warn `WARN_DAYS` ahead. An authorization stored
before the project recorded its date has an unknown expiry (null): Spotify's
invalid_grant then tells us, and the token is discarded.
"""

from __future__ import annotations

import datetime as dt

from taskcode.config import Settings, SpotifySettings, defaults
from taskcode.db import transaction

WARN_DAYS = 14  # warn this long before a refresh token expires


def lifetime_days(settings: Settings | None = None) -> float:
    """How long a refresh token lives after the authorization: the configured value, else its default."""
    if settings is not None:
        return settings.spotify.refresh_token_lifetime_days
    return defaults(SpotifySettings)["refresh_token_lifetime_days"]


def status(conn, settings: Settings | None = None) -> dict:
    lifetime = lifetime_days(settings)
    now = dt.datetime.now(dt.UTC)
    with transaction(conn) as cur:
        cur.execute(
            """SELECT p.name,
                      count(l.track_id) FILTER (WHERE l.removed_at IS NULL),
                      count(l.track_id) FILTER (WHERE l.removed_at IS NOT NULL),
                      s.last_sync_at, p.authorized_at,
                      EXISTS (SELECT 1 FROM spotify_tokens t WHERE t.person_id = p.person_id)
                 FROM people p
                 LEFT JOIN likes l ON l.person_id = p.person_id
                 LEFT JOIN sync_state s ON s.person_id = p.person_id
                GROUP BY p.person_id, p.name, s.last_sync_at, p.authorized_at
                ORDER BY p.name"""
        )
        users = {
            name: {
                "likes": likes,
                "removed": removed,
                "last_sync": last_sync.isoformat() if last_sync else None,
                **token_outlook(authorized_at, has_token, lifetime, now),
            }
            for name, likes, removed, last_sync, authorized_at, has_token in cur.fetchall()
        }
        cur.execute("SELECT count(*) FROM tracks")
        tracks = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM audio_features")
        with_features = cur.fetchone()[0]
        cur.execute(
            """SELECT version, (metrics->>'f1')::float FROM model_versions
                WHERE status = 'champion'"""
        )
        row = cur.fetchone()
        champion = {"version": row[0], "f1": row[1]} if row else None
        cur.execute(
            """SELECT m.model_version, count(p.track_id)
                 FROM maps m LEFT JOIN map_points p ON p.map_id = m.map_id
                WHERE m.complete AND m.model_version = (SELECT version FROM model_versions WHERE status = 'champion')
                GROUP BY m.map_id, m.model_version
                ORDER BY m.updated_at DESC, m.map_id DESC LIMIT 1"""
        )
        row = cur.fetchone()
        latest_map = {"version": row[0], "points": row[1]} if row else None  # the champion's newest map
    return {
        "users": users,
        "tracks": tracks,
        "tracks_with_features": with_features,
        "champion": champion,
        "map": latest_map,
    }


def token_outlook(authorized_at: dt.datetime | None, has_token: bool, lifetime_days: float, now: dt.datetime) -> dict:
    """The three token keys of a person in `status --json`: when they authorized, until when, whether to again."""
    expires = authorized_at + dt.timedelta(days=lifetime_days) if authorized_at else None
    return {
        "authorized_at": authorized_at.isoformat() if authorized_at else None,
        "token_expires_at": expires.isoformat() if expires else None,
        "needs_authorize": not has_token or (expires is not None and expires <= now),
    }


def token_warning(name: str, info: dict, now: dt.datetime) -> str | None:
    """One line with the command to run, when the person must authorize now or within WARN_DAYS; else None."""
    command = f"run: python -m taskcode authorize --user {name}"
    expires = dt.datetime.fromisoformat(info["token_expires_at"]) if info["token_expires_at"] else None
    if info["needs_authorize"]:
        if expires is not None and expires <= now:
            return f"{name}'s Spotify authorization expired on {expires:%Y-%m-%d}; {command}"
        if info["authorized_at"]:
            return f"{name}'s Spotify authorization was refused and discarded; {command}"
        return f"{name} has not authorized Spotify yet; {command}"
    if expires is not None and expires - now <= dt.timedelta(days=WARN_DAYS):
        days = (expires - now).days
        return f"{name}'s Spotify authorization expires on {expires:%Y-%m-%d} (in {days} days); {command}"
    return None


def format_status(report: dict) -> str:
    """A short human-readable view of the same report."""
    lines = []
    now = dt.datetime.now(dt.UTC)
    if not report["users"]:
        lines.append("No people yet: run `python -m taskcode authorize --user NAME` (or `make demo`).")
    for name, info in report["users"].items():
        expires = info["token_expires_at"]
        lines.append(
            f"{name}: {info['likes']} likes, {info['removed']} removed, last sync {info['last_sync'] or 'never'}"
            + ("" if info["needs_authorize"] else f", authorization expires {expires[:10] if expires else 'unknown'}")
        )
        warning = token_warning(name, info, now)
        if warning:
            lines.append(f"  warning: {warning}")
    lines.append(f"tracks: {report['tracks']} ({report['tracks_with_features']} with audio features)")
    champion = report["champion"]
    lines.append(
        f"champion: version {champion['version']}, F1 {champion['f1']:.3f}"
        if champion
        else "champion: none yet (run `python -m taskcode train`)"
    )
    latest = report["map"]
    lines.append(
        f"map: version {latest['version']}, {latest['points']} points"
        if latest
        else "map: none yet (run `python -m taskcode embed`)"
    )
    return "\n".join(lines)
