"""Playlists back in Spotify: each opted-in person's picks, and one playlist for the household.

Opt-in (`playlists:` in the config). A person's own playlist holds their top
picks of the champion: the household's songs first, then the catalog's (the
discover stage stored both). The shared playlist, in the account config names,
holds the songs the model finds closest to everyone's taste (chances nearest
an even split on the champion's map) alternating with songs several people
like. Each playlist's id is stored, so the same one is rewritten every night
(PUT the first 100 songs, POST the rest). "Deleting" a playlist in Spotify only
takes it out of the person's library: it still exists and still takes writes.
So each night first asks Spotify whether the stored playlists are still in
their owner's library (one call per account), and one the person removed is
made again, once (as is one whose id no longer exists). A person whose token
cannot write playlists gets one line telling them to authorize again, and
everyone else's playlists are still written.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from taskcode import registry, store
from taskcode.config import Settings
from taskcode.db import transaction
from taskcode.errors import AuthorizationError, UsageError
from taskcode.items import SPOTIFY_ID
from taskcode.retry import ApiError
from taskcode.runs import recorded
from taskcode.spotify import MAX_PLAYLIST_URIS, SpotifyClient, client_for

log = logging.getLogger(__name__)
OWN, SHARED = "own", "shared"
TITLE = "Whose song is it? — for {name}"
SHARED_TITLE = "Whose song is it? — together"
DESCRIPTION = {
    OWN: "Songs the model thinks {name} will like: the household's first, then the catalog's. Rewritten nightly.",
    SHARED: "Songs the model finds closest to all our tastes, and songs several of us like. Rewritten nightly.",
}
NOT_CONFIGURED = "no playlists configured (playlists.people, playlists.shared_owner)"


@dataclass(frozen=True)
class Target:
    """One playlist to write: in whose account, which kind, which songs (in order)."""

    account: str
    kind: str
    track_ids: tuple[str, ...]

    @property
    def label(self) -> str:
        return self.account if self.kind == OWN else f"shared ({self.account})"

    @property
    def title(self) -> str:
        return TITLE.format(name=self.account) if self.kind == OWN else SHARED_TITLE


def write_playlists(settings: Settings, conn, only: str | None = None) -> dict:
    """Write the configured playlists (only those in `only`'s account); recorded as a 'playlists' run.

    The summary: {"model_version", "written": {label: songs}, "recreated": [labels],
    "needs_authorize": {name: the line to show them}}, or {"skipped": why}.
    """
    if only is not None and only not in _accounts(settings):  # a typo: nothing to record
        raise UsageError(
            f"playlists: {only!r} has no playlist in the config (playlists.people, playlists.shared_owner)"
        )
    with recorded(conn, "playlists") as run:
        run.summary = _write_all(settings, conn, only)
        if "skipped" in run.summary:
            run.status = "skipped"
    return run.summary


def _accounts(settings: Settings) -> list[str]:
    """The people who have a playlist in their account: the opted-in ones and the shared one's owner."""
    config = settings.playlists
    return [*config.people, *([config.shared_owner] if config.shared_owner else [])]


def _write_all(settings: Settings, conn, only: str | None) -> dict:
    if not _accounts(settings):
        return {"skipped": NOT_CONFIGURED}
    champion = registry.champion(conn)
    if champion is None:
        return {"skipped": "no champion model yet; run: python -m taskcode train"}
    version = champion.version
    targets = [t for t in _targets(settings, conn, version) if only in (None, t.account)]
    summary: dict = {"model_version": version, "written": {}, "recreated": [], "needs_authorize": {}}
    for account in dict.fromkeys(t.account for t in targets):
        try:
            _write_account(settings, conn, [t for t in targets if t.account == account], summary)
        except AuthorizationError as exc:  # this account only: the others' playlists go on
            log.warning("%s", exc)
            summary["needs_authorize"][account] = str(exc)
    return summary


def _targets(settings: Settings, conn, version: int) -> Iterator[Target]:
    config = settings.playlists
    for name in config.people:
        yield Target(name, OWN, tuple(own_songs(conn, version, name, config.songs)))
    if config.shared_owner:
        yield Target(config.shared_owner, SHARED, tuple(shared_songs(conn, version, config.songs)))


def own_songs(conn, version: int, person: str, songs: int) -> list[str]:
    """The person's stored picks of this version: the household's by rank, then the catalog's."""
    with transaction(conn) as cur:
        cur.execute(
            """SELECT track_id FROM discoveries WHERE model_version = %s AND person = %s
                ORDER BY source = 'catalog', rank""",
            (version, person),
        )
        found = [track_id for (track_id,) in cur.fetchall()]
    return _playable(found)[:songs]


def shared_songs(conn, version: int, songs: int) -> list[str]:
    """Songs nearest an even split of the champion's chances, alternating with songs several people like.

    The spread of a song is its highest chance minus its lowest on the
    version's newest complete map (0: an even split); liked songs off the map
    come last.
    """
    with transaction(conn) as cur:
        cur.execute(
            """WITH newest AS (
                   SELECT map_id FROM maps WHERE model_version = %s AND complete
                    ORDER BY updated_at DESC, map_id DESC LIMIT 1),
               spread AS (
                   SELECT p.track_id, (SELECT max(x) - min(x) FROM unnest(p.probabilities) AS x) AS spread
                     FROM map_points p JOIN newest USING (map_id)),
               liked AS (
                   SELECT track_id FROM likes WHERE removed_at IS NULL GROUP BY track_id HAVING count(*) >= 2)
               SELECT coalesce(s.track_id, l.track_id), l.track_id IS NOT NULL
                 FROM spread s FULL JOIN liked l ON l.track_id = s.track_id
                ORDER BY s.spread NULLS LAST, 1""",
            (version,),
        )
        rows = cur.fetchall()
    closest = _playable([track_id for track_id, liked in rows if not liked])
    liked = _playable([track_id for track_id, liked in rows if liked])
    half = min(len(liked), songs // 2)
    closest = closest[: songs - half]
    liked = liked[: songs - len(closest)]
    return [track_id for pair in _alternate(closest, liked) for track_id in pair]


def _alternate(first: list[str], second: list[str]) -> Iterator[tuple[str, ...]]:
    for index in range(max(len(first), len(second))):
        yield tuple(side[index] for side in (first, second) if index < len(side))


def _playable(track_ids: list[str]) -> list[str]:
    """Spotify track ids only (Spotify refuses a whole request for one bad URI), each once, in order."""
    return list(dict.fromkeys(t for t in track_ids if SPOTIFY_ID.fullmatch(t)))


def _write_account(settings: Settings, conn, targets: list[Target], summary: dict) -> None:
    """One account's playlists, into the summary; one library check covers all its stored ones."""
    person = _person(conn, targets[0].account)
    client = client_for(settings, conn, person)
    with transaction(conn) as cur:
        cur.execute("SELECT kind, playlist_id FROM playlists WHERE person_id = %s", (person.person_id,))
        stored = dict(cur.fetchall())
    kept = _in_library(client, [stored[t.kind] for t in targets if t.kind in stored])
    for target in targets:
        songs, recreated = _write(conn, client, person, target, stored.get(target.kind), kept)
        summary["written"][target.label] = songs
        if recreated:
            summary["recreated"].append(target.label)


def _in_library(client: SpotifyClient, playlist_ids: list[str]) -> set[str]:
    """The stored playlists still in their owner's library (a deleted one still exists and takes writes)."""
    if not playlist_ids:
        return set()
    answers = client.library_contains([f"spotify:playlist:{playlist_id}" for playlist_id in playlist_ids])
    return {playlist_id for playlist_id, kept in zip(playlist_ids, answers, strict=True) if kept}


def _write(
    conn, client: SpotifyClient, person: store.PersonRecord, target: Target, stored: str | None, kept: set[str]
) -> tuple[int, bool]:
    """Rewrite the stored playlist, or make it; one removed from the library (or gone) is made again, once."""
    uris = [f"spotify:track:{track_id}" for track_id in target.track_ids]
    playlist_id, recreated = stored, False
    if stored is not None and stored not in kept:
        log.info("%s removed the playlist %s from their Spotify library; making a new one", target.account, stored)
        playlist_id, recreated = None, True
    if playlist_id is not None:
        try:
            _fill(client, playlist_id, uris)
        except ApiError as exc:
            if exc.status != 404:
                raise
            log.info("%s's playlist %s is gone from Spotify; making it again", target.account, playlist_id)
            playlist_id, recreated = None, True
    if playlist_id is None:
        _fill(client, _create(conn, client, person, target), uris)
    with transaction(conn) as cur:
        cur.execute(
            "UPDATE playlists SET songs = %s, written_at = now() WHERE person_id = %s AND kind = %s",
            (len(uris), person.person_id, target.kind),
        )
    return len(uris), recreated


def _create(conn, client: SpotifyClient, person: store.PersonRecord, target: Target) -> str:
    """A new playlist, its id stored at once: a failure after this must not make a second one."""
    description = DESCRIPTION[target.kind].format(name=target.account)
    playlist_id = client.create_playlist(target.title, description)["id"]
    with transaction(conn) as cur:
        cur.execute(
            """INSERT INTO playlists (person_id, kind, playlist_id) VALUES (%s, %s, %s)
               ON CONFLICT (person_id, kind) DO UPDATE SET playlist_id = EXCLUDED.playlist_id, created_at = now()""",
            (person.person_id, target.kind, playlist_id),
        )
    return playlist_id


def _fill(client: SpotifyClient, playlist_id: str, uris: list[str]) -> None:
    """PUT replaces the whole list with the first 100 songs; POST appends the rest, 100 a request."""
    client.replace_playlist_items(playlist_id, uris[:MAX_PLAYLIST_URIS])
    for start in range(MAX_PLAYLIST_URIS, len(uris), MAX_PLAYLIST_URIS):
        client.add_playlist_items(playlist_id, uris[start : start + MAX_PLAYLIST_URIS])


def _person(conn, name: str) -> store.PersonRecord:
    with transaction(conn) as cur:
        found = store.get_people(cur, [name])
    if not found:
        raise AuthorizationError(
            f"{name} has not authorized Spotify yet; run: python -m taskcode authorize --user {name}"
        )
    return found[0]


def run_command(settings: Settings, conn, only: str | None) -> int:
    """`python -m taskcode playlists`: one line per playlist, one per person to re-authorize (exit 5)."""
    summary = write_playlists(settings, conn, only)
    if "skipped" in summary:
        print(f"playlists: skipped: {summary['skipped']}")
        return 0
    for label, songs in summary["written"].items():
        again = " (made again: it had been removed from the library)" if label in summary["recreated"] else ""
        print(f"{label}: {songs} songs written{again}")
    for line in summary["needs_authorize"].values():
        print(f"error: {line}", file=sys.stderr)
    return AuthorizationError.exit_code if summary["needs_authorize"] else 0
