"""`status --json`: the one summary other tools (and the README) rely on."""

from __future__ import annotations

from taskcode.db import transaction


def status(conn) -> dict:
    with transaction(conn) as cur:
        cur.execute(
            """SELECT p.name,
                      count(l.track_id) FILTER (WHERE l.removed_at IS NULL),
                      count(l.track_id) FILTER (WHERE l.removed_at IS NOT NULL),
                      s.last_sync_at
                 FROM people p
                 LEFT JOIN likes l ON l.person_id = p.person_id
                 LEFT JOIN sync_state s ON s.person_id = p.person_id
                GROUP BY p.person_id, p.name, s.last_sync_at
                ORDER BY p.name"""
        )
        users = {
            name: {
                "likes": likes,
                "removed": removed,
                "last_sync": last_sync.isoformat() if last_sync else None,
            }
            for name, likes, removed, last_sync in cur.fetchall()
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


def format_status(report: dict) -> str:
    """A short human-readable view of the same report."""
    lines = []
    if not report["users"]:
        lines.append("No people yet: run `python -m taskcode authorize --user NAME` (or `make demo`).")
    for name, info in report["users"].items():
        lines.append(
            f"{name}: {info['likes']} likes, {info['removed']} removed, last sync {info['last_sync'] or 'never'}"
        )
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
