"""API efficiency: calls a nightly sync makes, divided by the physical minimum.

    .venv/bin/python bench/api.py

The emulator's request log counts every call (spotipy, over real HTTP). The
minimum for one night is, per person, the pages of 50 that must be read to
see every new like and then one like already stored (the watermark), plus
one `/audio-features` call per 100 tracks without features:

    sum over people of ceil((new + 1) / 50)  +  ceil(tracks without features / 100)

On a first sync nothing is stored yet, so there is no "+1": Spotify's
`next: null` on the last page already says the list is over. With 5,000
likes a person that is 100 pages, not the formula's 101; we count the exact
minimum (and keep the formula's figure in the details).

Three nights on the class library (20 people x 5,000 likes, every track known
to Spotify's /audio-features so that the minimum above applies): the first
sync, a night with no new likes, and a night with 10 new likes. Before each
later night the access tokens are expired, as they are after an hour, so a
night also costs one token refresh per person (counted apart: the accounts
service, not the Web API). A fourth, informational night shows an app made
after November 2024: /audio-features answers 403 and ReccoBeats (40 ids a
call) takes over.
"""

from __future__ import annotations

import math
import time
from collections import Counter

from harness import (
    CLASS_PEOPLE,
    CLASS_TRACKS,
    Context,
    Row,
    authorize_everyone,
    config_file,
    environment,
    main_for,
    next_night,
)

NEW_LIKES = 10


def measure(ctx: Context) -> list[Row]:
    from emulator import Emulator, generate
    from taskcode import db
    from taskcode.config import load_settings

    library = generate(people=CLASS_PEOPLE, tracks=CLASS_TRACKS, seed=7, unknown_features=0.0, spotify_coverage=1.0)
    url = ctx.database("bench_api")
    rows = []
    with Emulator(library, people_per_app=None) as emulator:  # 20 people on one app: no five-people limit
        env = {**emulator.env(), "DATABASE_URL": url, "TASKCODE_CONFIG": str(config_file(ctx.subfolder("api")))}
        with environment(env):
            settings = load_settings()
            conn = db.connect(settings)
            try:
                authorize_everyone(settings, conn, emulator)

                started = time.perf_counter()
                night = _night(settings, conn, emulator, library)
                night["seconds"] = round(time.perf_counter() - started, 1)
                rows.append(_row(f"API calls / minimum, first sync {CLASS_PEOPLE} x {CLASS_TRACKS:,}", night))

                next_night(conn, emulator)
                night = _night(settings, conn, emulator, library)
                rows.append(_row("API calls / minimum, night with no new likes", night))

                next_night(conn, emulator)
                for _ in range(NEW_LIKES):
                    emulator.add_like(library.people[0].name)  # brand-new songs: they need features
                night = _night(settings, conn, emulator, library)
                rows.append(_row(f"API calls / minimum, night with {NEW_LIKES} new likes", night))

                next_night(conn, emulator)
                emulator.deprecate_audio_features()
                for _ in range(NEW_LIKES):
                    emulator.add_like(library.people[1].name)
                night = _night(settings, conn, emulator, library, fallback=True)
                rows.append(_row("  same, app made after 2024-11 (403, ReccoBeats)", night, goal=False))
            finally:
                conn.close()
    return rows


def _night(settings, conn, emulator, library, fallback: bool = False) -> dict:
    from taskcode import sync

    with conn.cursor() as cur:
        cur.execute("SELECT p.name, count(l.track_id) FROM people p LEFT JOIN likes l USING (person_id) GROUP BY 1")
        stored = dict(cur.fetchall())
        cur.execute("SELECT track_id FROM tracks")
        known_tracks = {row[0] for row in cur.fetchall()}
    likes = {
        person.name: {like.track_id for like in library.likes if like.person == person.name}
        for person in library.people
    }
    new = {name: len(ids) - stored.get(name, 0) for name, ids in likes.items()}
    wanted = len(set().union(*likes.values()) - known_tracks)

    summary = sync.run(settings, conn)
    calls = Counter(entry["endpoint"] for entry in emulator.requests())
    statuses = Counter((entry["endpoint"], entry["status"]) for entry in emulator.requests())

    pages = sum(max(1, math.ceil((n + (1 if stored.get(name) else 0)) / 50)) for name, n in new.items())
    formula_pages = sum(math.ceil((n + 1) / 50) for n in new.values())
    if fallback:
        refused = statuses[("audio_features", 403)]
        feature_calls = calls["audio_features"] + calls["reccobeats"]
        feature_minimum = refused + math.ceil(wanted / 40)
    else:
        feature_calls = calls["audio_features"] + calls["reccobeats"]
        feature_minimum = math.ceil(wanted / 100)
    made = calls["tracks"] + feature_calls
    minimum = pages + feature_minimum
    assert sum(p.new_likes for p in summary.people) == sum(new.values()), "the sync missed likes"
    return {
        "calls": made,
        "minimum": minimum,
        "ratio": made / minimum,
        "pages": calls["tracks"],
        "minimum_pages": pages,
        "issue_formula_pages": formula_pages,
        "feature_calls": dict((k, v) for k, v in calls.items() if k in ("audio_features", "reccobeats")),
        "minimum_feature_calls": feature_minimum,
        "tracks_without_features": wanted,
        "token_calls": calls["token"],
        "profile_calls": calls["me"],
        "new_likes": sum(new.values()),
        "refused_feature_calls": statuses[("audio_features", 403)],
    }


def _row(measure: str, night: dict, goal: bool = True) -> Row:
    return Row(
        "api",
        measure,
        round(night["ratio"], 4),
        "ratio",
        goal="1.00" if goal else "(context)",
        met=(abs(night["ratio"] - 1) < 1e-9) if goal else None,
        details=night,
    )


if __name__ == "__main__":
    main_for("api", measure)
