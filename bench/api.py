"""API efficiency: calls a nightly sync makes, divided by the physical minimum.

    .venv/bin/python bench/api.py

The emulator's request log counts every call (spotipy and requests, over real
HTTP). The nights run the default path of a development-mode app: likes from
Spotify, then ReccoBeats' track records for the popularity and ISRC Spotify
no longer sends, then ReccoBeats' audio features (both 40 ids a call). The
minimum for one night is, per person, the pages of 50 that must be read to
see every new like and then one like already stored (the watermark), plus
one `/v1/track` call per 40 tracks lacking track info and one
`/audio-features` call per 40 tracks without features:

    sum over people of ceil((new + 1) / 50)
      + ceil(tracks lacking info / 40)  +  ceil(tracks without features / 40)

A track lacks info when it has no popularity and ReccoBeats was not asked
about it within `features.retry_unknown_after_days`. On a first sync nothing
is stored yet, so there is no "+1": Spotify's `next: null` on the last page
already says the list is over. With 5,000 likes a person that is 100 pages,
not the formula's 101; we count the exact minimum (and keep the formula's
figure in the details).

Three nights on the class library (20 people x 5,000 likes, every track known
to ReccoBeats so that the minimum above applies): the first sync, a night
with no new likes (no track or feature call at all), and a night with 10 new
likes. Before each later night the access tokens are expired, as they are
after an hour, so a night also costs one token refresh per person (counted
apart: the accounts service, not the Web API). A fourth, informational night
is an extended-quota app configured with Spotify first
(`features.sources: [spotify, reccobeats, csv]`), with more new likes than
one call of 100 ids holds: its features cost one `/audio-features` call per
100 tracks instead of 40, its track records still one `/v1/track` per 40.
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
SPOTIFY_NIGHT_LIKES = 120  # over 100: Spotify's 100 ids a call shows against ReccoBeats' 40
RECCOBEATS_IDS, SPOTIFY_FEATURE_IDS = 40, 100
FEATURE_ENDPOINTS = ("audio_features", "reccobeats")
SPOTIFY_FIRST = "features:\n  sources: [spotify, reccobeats, csv]\n"


def measure(ctx: Context) -> list[Row]:
    from emulator import Emulator, generate
    from taskcode import db
    from taskcode.config import load_settings

    library = generate(
        people=CLASS_PEOPLE,
        tracks=CLASS_TRACKS,
        seed=7,
        unknown_features=0.0,
        spotify_coverage=1.0,
        reccobeats_coverage=1.0,
    )
    url = ctx.database("bench_api")
    rows = []
    # A development-mode app (/audio-features answers 403) serving 20 people: no five-people limit here.
    with Emulator(library, people_per_app=None) as emulator:
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
                    emulator.add_like(library.people[0].name)  # brand-new songs: they need info and features
                night = _night(settings, conn, emulator, library)
                rows.append(_row(f"API calls / minimum, night with {NEW_LIKES} new likes", night))

                next_night(conn, emulator)
                emulator.deprecate_audio_features(on=False)  # as for an extended-quota app
                for _ in range(SPOTIFY_NIGHT_LIKES):
                    emulator.add_like(library.people[1].name)
                with environment({"TASKCODE_CONFIG": str(config_file(ctx.subfolder("api-spotify"), SPOTIFY_FIRST))}):
                    spotify_first = load_settings()
                night = _night(spotify_first, conn, emulator, library, feature_ids=SPOTIFY_FEATURE_IDS)
                label = f"  extended-quota app, Spotify first, {SPOTIFY_NIGHT_LIKES} new likes"
                rows.append(_row(label, night, goal=False))
            finally:
                conn.close()
    return rows


def _night(settings, conn, emulator, library, feature_ids: int = RECCOBEATS_IDS) -> dict:
    """One sync, its calls counted from the emulator's log against the minimum read from the data beforehand."""
    from taskcode import sync

    need = _needed(settings, conn, library)
    summary = sync.run(settings, conn)
    assert sum(p.new_likes for p in summary.people) == sum(need["new"].values()), "the sync missed likes"
    calls = Counter(entry["endpoint"] for entry in emulator.requests())

    stored, new = need["stored"], need["new"]
    pages = sum(max(1, math.ceil((n + (1 if stored.get(name) else 0)) / 50)) for name, n in new.items())
    info_minimum = math.ceil(need["lacking_info"] / RECCOBEATS_IDS)
    feature_minimum = math.ceil(need["without_features"] / feature_ids)
    feature_calls = sum(calls[endpoint] for endpoint in FEATURE_ENDPOINTS)
    made = calls["tracks"] + calls["reccobeats_track"] + feature_calls
    minimum = pages + info_minimum + feature_minimum
    return {
        "calls": made,
        "minimum": minimum,
        "ratio": made / minimum,
        "pages": calls["tracks"],
        "minimum_pages": pages,
        "issue_formula_pages": sum(math.ceil((n + 1) / 50) for n in new.values()),
        "track_info_calls": calls["reccobeats_track"],
        "minimum_track_info_calls": info_minimum,
        "tracks_lacking_info": need["lacking_info"],
        "feature_calls": {endpoint: calls[endpoint] for endpoint in FEATURE_ENDPOINTS if calls[endpoint]},
        "minimum_feature_calls": feature_minimum,
        "tracks_without_features": need["without_features"],
        "feature_sources": list(settings.features.sources),
        "token_calls": calls["token"],
        "profile_calls": calls["me"],
        "new_likes": sum(new.values()),
        "refused_feature_calls": sum(
            1 for entry in emulator.requests() if entry["endpoint"] in FEATURE_ENDPOINTS and entry["status"] >= 400
        ),
    }


def _needed(settings, conn, library) -> dict:
    """What tonight must fetch: new likes per person, and the tracks lacking info or features after the sync."""
    retry_seconds = settings.features.retry_unknown_after_days * 86400
    with conn.cursor() as cur:
        cur.execute("SELECT p.name, count(l.track_id) FROM people p LEFT JOIN likes l USING (person_id) GROUP BY 1")
        stored = dict(cur.fetchall())
        cur.execute("SELECT track_id FROM tracks")
        known_tracks = {row[0] for row in cur.fetchall()}
        cur.execute(
            """SELECT count(*) FROM tracks WHERE popularity IS NULL
                 AND (info_checked_at IS NULL OR info_checked_at <= now() - make_interval(secs => %s))""",
            (retry_seconds,),
        )
        stored_lacking_info = cur.fetchone()[0]
        cur.execute(
            """SELECT count(*) FROM tracks t
                WHERE NOT EXISTS (SELECT 1 FROM audio_features f WHERE f.track_id = t.track_id)
                  AND NOT EXISTS (SELECT 1 FROM feature_misses m WHERE m.track_id = t.track_id
                                     AND m.last_tried_at > now() - make_interval(secs => %s))""",
            (retry_seconds,),
        )
        stored_without_features = cur.fetchone()[0]
    likes = {person.name: {like.track_id for like in library.likes_of(person.name)} for person in library.people}
    arriving = len(set().union(*likes.values()) - known_tracks)
    return {
        "stored": stored,
        "new": {name: len(ids) - stored.get(name, 0) for name, ids in likes.items()},
        "lacking_info": stored_lacking_info + arriving,
        "without_features": stored_without_features + arriving,
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
