"""A local Spotify: the offline world that tests, the demo and benchmarks run in.

No machine here reaches Spotify. This emulator serves a sample library
(`taskcode.library`) over real HTTP, in the shapes Spotify answers with, so
the real clients (spotipy, requests) run unchanged against it. It is as strict
as the real service in 2026 (see `spotify-api.md` in the shared design notes):
an emulator kinder than Spotify would let bugs through that production would
not forgive. Tokens expire and can be revoked, limits are enforced, errors
have Spotify's JSON shape, and faults (429 with Retry-After, bursts of 5xx,
malformed bodies, dropped connections, latency, the 2024 audio-features
deprecation, unregistered users) and odd items (`track: null`, local files,
podcast episodes, duplicates, tracks without album) can be switched on at run
time, from Python or from another process over the admin endpoints. A request
log lets tests and benchmarks count calls.

One port serves four things:

    /v1/...                 the Web API           (SPOTIFY_API_BASE)
    /authorize, /api/token  the accounts service  (SPOTIFY_ACCOUNTS_BASE)
    /reccobeats/v1/...      ReccoBeats            (RECCOBEATS_API_BASE)
    /admin/...              control for the demo and benchmarks (loopback only)

Change the library through the emulator (`add_like`, `remove_like`,
`add_quirk`), not directly: the emulator caches each person's sorted likes.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import http.client
import inspect
import ipaddress
import json
import logging
import math
import random
import re
import secrets
import socket
import string
import struct
import sys
import threading
import time
import uuid
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

from taskcode.errors import DataError
from taskcode.library import Library

log = logging.getLogger(__name__)

ENDPOINTS = ("me", "tracks", "audio_features", "reccobeats", "token", "authorize")
QUIRKS = ("null_track", "local_file", "episode", "duplicate", "missing_album", "non_ascii")
LIBRARY_SCOPE = "user-library-read"  # what /me/tracks needs and what the project asks for
MAX_AUDIO_FEATURE_IDS = 100
MAX_RECCOBEATS_IDS = 40
RECCOBEATS_FIELDS = (
    "acousticness", "danceability", "energy", "instrumentalness", "key", "liveness",
    "loudness", "mode", "speechiness", "tempo", "valence",
)
_SPOTIFY_ID = re.compile(r"[0-9A-Za-z]{22}")
_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_MARKET = re.compile(r"[A-Z]{2}|from_token")
_HIDDEN_PARAMS = {"code", "refresh_token", "access_token", "client_secret"}  # never in the log
_JSON = "application/json; charset=utf-8"


# -- answers ------------------------------------------------------------------


@dataclasses.dataclass
class _Answer:
    """What the server sends back; status 0 means: hang up without a word."""

    status: int
    body: bytes = b""
    content_type: str = _JSON
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


class _Refused(Exception):
    """Raised deep inside a handler to answer at once (bad token, bad parameter)."""

    def __init__(self, answer: _Answer):
        super().__init__(answer.status)
        self.answer = answer


def _json(status: int, data, headers: dict[str, str] | None = None) -> _Answer:
    return _Answer(status, json.dumps(data, ensure_ascii=False).encode("utf-8"), headers=headers or {})


def _error(status: int, message: str | None = None, reason: str | None = None,
           headers: dict[str, str] | None = None) -> _Answer:
    """Spotify's error shape; a missing message stays missing (the 403 of audio features has none)."""
    error: dict = {"status": status}
    if message is not None:
        error["message"] = message
    if reason:
        error["reason"] = reason
    return _json(status, {"error": error}, headers)


def _oauth_error(error: str, description: str) -> _Refused:
    """The accounts service speaks OAuth, not the Web API's error shape."""
    return _Refused(_json(400, {"error": error, "error_description": description}))


def _bad_request(message: str) -> _Refused:
    return _Refused(_error(400, message))


# -- state ----------------------------------------------------------------------


@dataclasses.dataclass
class _Grant:
    """Who a token speaks for: a person, through one app, with some scopes."""

    person: str
    client_id: str
    scope: str
    expires_at: float = math.inf  # access tokens only


@dataclasses.dataclass
class _Code:
    grant: _Grant
    redirect_uri: str


@dataclasses.dataclass
class _RateLimit:
    """Every `every`-th call opens a window of `retry_after` seconds in which all calls get 429.

    `times` counts the windows opened (None: forever); calls that arrive inside
    an open window get 429 too but do not count, so a client that honours
    Retry-After sees exactly `times` 429s and one that does not sees more.
    """

    every: int
    retry_after: float
    reason: str | None
    times: int | None
    calls: int = 0
    window_ends: float = 0.0

    def check(self, now: float) -> _Answer | None:
        if now < self.window_ends:
            return self._refusal(self.window_ends - now)
        self.calls += 1
        if self.calls % self.every or self.times == 0:
            return None
        if self.times is not None:
            self.times -= 1
        self.window_ends = now + self.retry_after
        return self._refusal(self.retry_after)

    def _refusal(self, wait: float) -> _Answer:
        return _error(429, "API rate limit exceeded", self.reason, {"Retry-After": str(math.ceil(wait))})


@dataclasses.dataclass
class _Faults:
    """The faults switched on for one endpoint."""

    latency: float = 0.0
    resets: int = 0
    failures: int = 0
    failure_status: int = 503
    failure_html: bool = False
    malformed: int = 0
    rate_limit: _RateLimit | None = None

    def before(self, now: float) -> _Answer | None:
        """The answer a fault imposes instead of the real one, if any."""
        if self.resets:
            self.resets -= 1
            return _Answer(0)
        if self.failures:
            self.failures -= 1
            return _failure(self.failure_status, self.failure_html)
        return self.rate_limit.check(now) if self.rate_limit else None


def _failure(status: int, html: bool) -> _Answer:
    phrase = http.client.responses.get(status, "Server Error")
    if not html:
        return _error(status, phrase)
    # What a proxy in front of the API sends: HTML, which a client must not parse as JSON.
    page = f"<html><head><title>{status} {phrase}</title></head><body><h1>{status} {phrase}</h1></body></html>"
    return _Answer(status, page.encode(), "text/html; charset=utf-8")


@dataclasses.dataclass
class _Call:
    """One HTTP request, plus what the emulator learns about it while answering."""

    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes
    client_ip: str
    time: float = dataclasses.field(default_factory=time.time)
    endpoint: str | None = None
    person: str | None = None


# -- the emulator -------------------------------------------------------------


class Emulator:
    """Spotify, the accounts service and ReccoBeats for one sample library, on 127.0.0.1."""

    # path -> (method, endpoint key, handler)
    _ROUTES = {
        "/v1/me": ("GET", "me", "_me"),
        "/v1/me/tracks": ("GET", "tracks", "_saved_tracks"),
        "/v1/audio-features": ("GET", "audio_features", "_audio_features"),
        "/reccobeats/v1/audio-features": ("GET", "reccobeats", "_reccobeats"),
        "/api/token": ("POST", "token", "_token"),
        "/authorize": ("GET", "authorize", "_authorize"),
    }
    _FAULT_ACTIONS = (
        "rate_limit", "fail", "malformed", "reset_connections", "latency",
        "deprecate_audio_features", "revoke", "unregister", "expire_access_tokens",
    )

    def __init__(self, library: Library, *, client_id: str | None = None, client_secret: str | None = None,
                 access_token_ttl: int = 3600, port: int = 0):
        self.library = library
        self.client_id = client_id or secrets.token_hex(16)
        self.client_secret = client_secret or secrets.token_hex(16)
        self.access_token_ttl = access_token_ttl
        self.port = port
        self._lock = threading.RLock()  # the one lock: every read and change of the state below
        self._clients = {self.client_id: self.client_secret}
        self._refresh_tokens: dict[str, _Grant] = {}
        self._access_tokens: dict[str, _Grant] = {}
        self._current: dict[tuple[str, str], str] = {}  # (person, client id) -> newest refresh token
        self._codes: dict[str, _Code] = {}
        self._extras: dict[str, list[tuple[str, str | dict | None]]] = {}  # quirk items per person
        self._sorted: dict[str, list[tuple[str, str | dict | None]]] = {}  # cache: newest first
        self._faults = {endpoint: _Faults() for endpoint in ENDPOINTS}
        self._audio_features_gone = False
        self._unregistered: set[str] = set()
        self._log: list[dict] = []
        self._rng = random.Random(library.seed)  # same library, same quirk ids
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- running ------------------------------------------------------------------

    def start(self) -> "Emulator":
        if self._server is None:
            self._server = _Server(self)
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                name=f"spotify-emulator-{self.port}", daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server.hang_up_all()  # kept-alive connections would otherwise still be answered
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.url}/v1"

    @property
    def accounts_base(self) -> str:
        return self.url

    @property
    def reccobeats_base(self) -> str:
        return f"{self.url}/reccobeats/v1"

    def env(self) -> dict[str, str]:
        """The environment variables that point the project at this emulator."""
        return {
            "SPOTIFY_API_BASE": self.api_base,
            "SPOTIFY_ACCOUNTS_BASE": self.accounts_base,
            "RECCOBEATS_API_BASE": self.reccobeats_base,
            "SPOTIFY_CLIENT_ID": self.client_id,
            "SPOTIFY_CLIENT_SECRET": self.client_secret,
        }

    # -- people, apps and tokens -----------------------------------------------------

    def add_client(self, client_id: str, client_secret: str) -> None:
        """Another app: development-mode apps take 5 users each, so big homes need several."""
        with self._lock:
            self._clients[client_id] = client_secret

    def refresh_token(self, name: str, client_id: str | None = None) -> str:
        """The person's current refresh token for an app (default: the main one).

        Like Spotify, a refresh token works only with the app it was issued to.
        It is issued on first use and stays the same until `revoke`, or until the
        person authorizes the app again.
        """
        with self._lock:
            self.library.person(name)
            client_id = client_id or self.client_id
            if client_id not in self._clients:
                raise DataError(f"no app {client_id!r} in the emulator; add it with add_client")
            token = self._current.get((name, client_id))
            return token or self._new_refresh_token(_Grant(name, client_id, LIBRARY_SCOPE))

    def revoke(self, name: str) -> None:
        """The person removed the app: refresh tokens answer invalid_grant, access tokens 401."""
        with self._lock:
            self.library.person(name)
            for tokens in (self._refresh_tokens, self._access_tokens):
                for token in [t for t, grant in tokens.items() if grant.person == name]:
                    del tokens[token]
            self._current = {key: t for key, t in self._current.items() if key[0] != name}

    def unregister(self, name: str) -> None:
        """The person is no longer listed in the app's dashboard (development mode)."""
        with self._lock:
            self.library.person(name)
            self._unregistered.add(name)

    def expire_access_tokens(self) -> None:
        """Every access token issued so far expires now: refresh paths get tested without sleeping."""
        with self._lock:
            for grant in self._access_tokens.values():
                grant.expires_at = 0.0

    def _new_refresh_token(self, grant: _Grant) -> str:
        token = "AQ" + secrets.token_urlsafe(48)
        self._refresh_tokens[token] = grant
        self._current[(grant.person, grant.client_id)] = token
        return token

    def _new_access_token(self, grant: _Grant) -> dict:
        token = "BQ" + secrets.token_urlsafe(48)
        self._access_tokens[token] = dataclasses.replace(grant, expires_at=time.time() + self.access_token_ttl)
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.access_token_ttl,
                "scope": grant.scope}

    # -- changing the library while it is served ------------------------------------------

    def add_like(self, name: str, track_id: str | None = None, added_at: str | None = None) -> str:
        """Like a known track, or (no id) a brand-new one drawn from the person's taste."""
        with self._lock:
            self.library.person(name)
            stamp = _stamp(added_at)
            if track_id is None:
                track_id = self.library.new_track(name)["id"]
            self.library.add_like(name, track_id, stamp)
            self._sorted.pop(name, None)
            return track_id

    def remove_like(self, name: str, track_id: str) -> bool:
        with self._lock:
            self.library.person(name)
            removed = self.library.remove_like(name, track_id)
            self._extras[name] = [item for item in self._extras.get(name, []) if item[1] != track_id]
            self._sorted.pop(name, None)
            return removed

    def add_quirk(self, name: str, kind: str, added_at: str | None = None) -> str | None:
        """Put one odd item, as real libraries have them, into the person's /me/tracks.

        Returns the id the item carries (None for a null track or a local file).
        "missing_album" and "non_ascii" are real new likes in the library (a sync
        must store them); the others exist only in what /me/tracks answers.
        """
        with self._lock:
            self.library.person(name)
            stamp = _stamp(added_at)
            if kind in ("missing_album", "non_ascii"):
                track = self.library.new_track(name)
                if kind == "missing_album":
                    del track["album"]
                    track["artists"] = []
                else:
                    track["name"] = f"Smörgåsbord för Zoë, 東京 (Synthetic {len(self.library.tracks)})"
                    track["artists"] = [{"id": self._new_id(), "name": "Synthetic Ærøskøbing Ñandú Çelik"}]
                self.library.add_like(name, track["id"], stamp)
                self._sorted.pop(name, None)
                return track["id"]
            if kind == "duplicate":
                liked = self._entries(name)
                item = next((track for _, track in liked if isinstance(track, str)), None)
                if item is None:
                    raise DataError(f"{name} likes no track that could appear twice")
            elif kind == "null_track":
                item = None
            elif kind == "local_file":
                item = self._local_file()
            elif kind == "episode":
                item = self._episode()
            else:
                raise DataError(f"no quirk {kind!r}; known: {', '.join(QUIRKS)}")
            self._extras.setdefault(name, []).append((stamp, item))
            self._sorted.pop(name, None)
            return item.get("id") if isinstance(item, dict) else item

    def _new_id(self) -> str:
        return "".join(self._rng.choice(string.digits + string.ascii_letters) for _ in range(22))

    def _local_file(self) -> dict:
        """A file the person added from disk: no id, no links, a spotify:local: uri."""
        title = f"Synthetic Local File {self._rng.randrange(10**6)}"
        return {
            "album": {"album_type": None, "artists": [], "external_urls": {}, "href": None, "id": None,
                      "images": [], "name": "Synthetic Local Album", "release_date": None,
                      "release_date_precision": None, "type": "album", "uri": None},
            "artists": [{"external_urls": {}, "href": None, "id": None, "name": "Synthetic Local Artist",
                         "type": "artist", "uri": None}],
            "disc_number": 0, "duration_ms": 201000, "explicit": False, "external_ids": {},
            "external_urls": {}, "href": None, "id": None, "is_local": True, "name": title,
            "preview_url": None, "track_number": 0, "type": "track",
            "uri": "spotify:local:Synthetic+Local+Artist:Synthetic+Local+Album:"
                   + title.replace(" ", "+") + ":201",
        }

    def _episode(self) -> dict:
        """A podcast episode where a track was expected (type "episode")."""
        show = self._object("show", self._new_id(), name="Synthetic Podcast", publisher="Synthetic Radio")
        return self._object(
            "episode", self._new_id(), name=f"Synthetic Episode {self._rng.randrange(1000)}",
            description="Not a song.", duration_ms=1_800_000, explicit=False, images=[],
            is_local=False, release_date="2026-10-01", release_date_precision="day", show=show,
            episode=True, track=False,
        )

    # -- faults ---------------------------------------------------------------------

    def rate_limit(self, endpoint: str, every: int = 1, retry_after: float = 1, reason: str | None = None,
                   times: int | None = None) -> None:
        """Every N-th call answers 429 with Retry-After, and opens a real window (see _RateLimit)."""
        if every < 1 or retry_after < 0 or (times is not None and times < 0):
            raise DataError("rate_limit: every >= 1, retry_after >= 0, times >= 0 or None")
        with self._lock:
            self._faults_of(endpoint).rate_limit = _RateLimit(every, retry_after, reason, times)

    def fail(self, endpoint: str, status: int = 503, count: int = 1, html: bool = False) -> None:
        """The next `count` calls answer a server error (a burst of 503s, a proxy's HTML 502...)."""
        if not 500 <= status <= 599:
            raise DataError(f"fail: status must be a 5xx server error, not {status}")
        with self._lock:
            faults = self._faults_of(endpoint)
            faults.failures, faults.failure_status, faults.failure_html = count, status, html

    def malformed(self, endpoint: str, count: int = 1) -> None:
        """The next `count` successful answers carry a truncated JSON body."""
        with self._lock:
            self._faults_of(endpoint).malformed = count

    def reset_connections(self, endpoint: str, count: int = 1) -> None:
        """The next `count` calls get the connection closed without any answer."""
        with self._lock:
            self._faults_of(endpoint).resets = count

    def latency(self, endpoint: str, seconds: float) -> None:
        """Delay every answer of the endpoint (0 switches it off)."""
        with self._lock:
            self._faults_of(endpoint).latency = max(0.0, seconds)

    def deprecate_audio_features(self, on: bool = True) -> None:
        """/v1/audio-features answers 403 without a message, as it does for apps made after 2024-11-27."""
        with self._lock:
            self._audio_features_gone = on

    def clear_faults(self) -> None:
        """Switch every fault off and re-register everyone (revoked tokens stay revoked)."""
        with self._lock:
            self._faults = {endpoint: _Faults() for endpoint in ENDPOINTS}
            self._audio_features_gone = False
            self._unregistered.clear()

    def _faults_of(self, endpoint: str) -> _Faults:
        if endpoint not in self._faults:
            raise DataError(f"no endpoint {endpoint!r}; known: {', '.join(ENDPOINTS)}")
        return self._faults[endpoint]

    # -- the request log ---------------------------------------------------------------

    def requests(self, endpoint: str | None = None) -> list[dict]:
        """Calls so far, oldest first (admin calls are not logged; no token is ever in it)."""
        with self._lock:
            if endpoint is not None:
                self._faults_of(endpoint)  # validates the key
            return [dict(entry) for entry in self._log if endpoint in (None, entry["endpoint"])]

    def clear_requests(self) -> int:
        with self._lock:
            count, self._log = len(self._log), []
            return count

    def _record(self, call: _Call, answer: _Answer) -> None:
        query = {key: "<hidden>" if key in _HIDDEN_PARAMS else value for key, value in call.query.items()}
        with self._lock:
            self._log.append({
                "time": call.time, "method": call.method, "path": call.path, "query": query,
                "status": answer.status, "endpoint": call.endpoint, "person": call.person,
            })

    # -- answering a call -----------------------------------------------------------------

    def _answer(self, call: _Call) -> _Answer:
        try:
            if call.path.startswith("/admin/"):
                return self._admin(call)  # not logged: the log counts calls to the services
            # Spotify ignores a trailing slash, and spotipy relies on it ("me/", "audio-features/?ids=").
            route = self._ROUTES.get(call.path.rstrip("/") or "/")
            if route is None:
                answer = _error(404, "Service not found")
            else:
                method, call.endpoint, handler = route
                answer = self._serve(call, getattr(self, handler)) if call.method == method else _error(
                    405, "Method not allowed")
        except Exception:  # a bug in the emulator: say so over HTTP instead of hanging up
            log.exception("emulator bug while answering %s %s", call.method, call.path)
            answer = _error(500, "Internal emulator error (see its log)")
        self._record(call, answer)
        return answer

    def _serve(self, call: _Call, handler) -> _Answer:
        with self._lock:
            delay = self._faults[call.endpoint].latency
        if delay:
            time.sleep(delay)  # outside the lock: one slow answer must not hold up the others
        with self._lock:
            faults = self._faults[call.endpoint]
            answer = faults.before(time.time())
            if answer is None:
                try:
                    answer = handler(call)
                except _Refused as refusal:
                    answer = refusal.answer
                if answer.status == 200 and faults.malformed:
                    faults.malformed -= 1
                    answer.body = answer.body[: len(answer.body) // 2]
            return answer

    def _authenticate(self, call: _Call, scope: str | None = None, registered: bool = True) -> None:
        """Check the bearer token like the Web API does; remember whose call it is."""
        header = call.headers.get("Authorization")
        if not header:
            raise _Refused(_error(401, "No token provided"))
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer":
            raise _Refused(_error(400, "Only valid bearer authentication supported"))
        grant = self._access_tokens.get(token.strip())
        if grant is None:
            raise _Refused(_error(401, "Invalid access token"))
        call.person = grant.person  # logged even when refused below
        if time.time() >= grant.expires_at:
            raise _Refused(_error(401, "The access token expired"))
        if registered and grant.person in self._unregistered:
            raise _Refused(_error(403, "User not registered in the Developer Dashboard"))
        if scope and scope not in grant.scope.split():
            raise _Refused(_error(403, "Insufficient client scope"))

    # -- the Web API ---------------------------------------------------------------------

    def _me(self, call: _Call) -> _Answer:
        self._authenticate(call)
        person = self.library.person(call.person)
        return _json(200, self._object(
            "user", person.user_id, display_name=person.display_name,
            followers={"href": None, "total": 0}, images=[],
        ))

    def _saved_tracks(self, call: _Call) -> _Answer:
        self._authenticate(call, scope=LIBRARY_SCOPE)
        limit = _int_param(call.query, "limit", default=20, low=1, high=50)
        offset = _int_param(call.query, "offset", default=0, low=0)
        market = call.query.get("market")
        if market is not None and not _MARKET.fullmatch(market):
            raise _bad_request("Invalid market code")
        entries = self._entries(call.person)
        total = len(entries)

        def page(at: int) -> str:
            params = {"offset": at, "limit": limit, **({"market": market} if market else {})}
            return f"{self.api_base}/me/tracks?{urlencode(params)}"

        return _json(200, {
            "href": page(offset),
            "items": [
                {"added_at": added_at, "track": self._track(track) if isinstance(track, str) else track}
                for added_at, track in entries[offset: offset + limit]
            ],
            "limit": limit,
            "next": page(offset + limit) if offset + limit < total else None,
            "offset": offset,
            "previous": page(max(0, offset - limit)) if offset > 0 else None,
            "total": total,
        })

    def _entries(self, name: str) -> list[tuple[str, str | dict | None]]:
        """The person's (added_at, track id or quirk item), newest first, cached until a change.

        Without the cache, every page of a 20-person library would scan and
        sort all likes again. Equal stamps keep the order they were added in.
        """
        entries = self._sorted.get(name)
        if entries is None:
            entries = [(like.added_at, like.track_id) for like in self.library.likes if like.person == name]
            entries += self._extras.get(name, [])
            entries.sort(key=lambda entry: entry[0], reverse=True)
            self._sorted[name] = entries
        return entries

    def _object(self, kind: str, object_id: str, **fields) -> dict:
        """The links every Spotify object carries, plus its own fields."""
        return {
            "external_urls": {"spotify": f"https://open.spotify.com/{kind}/{object_id}"},
            "href": f"{self.api_base}/{kind}s/{object_id}", "id": object_id, "type": kind,
            "uri": f"spotify:{kind}:{object_id}", **fields,
        }

    def _track(self, track_id: str) -> dict:
        """A library row in the shape of Spotify's track object (as development-mode apps see it)."""
        row = self.library.tracks[track_id]
        artists = [self._object("artist", a["id"], name=a["name"]) for a in row["artists"]]
        fields = {}
        if "album" in row:  # the "missing_album" quirk has none
            album = row["album"]
            fields["album"] = self._object(
                "album", album["id"], album_type="album", artists=artists, images=[], name=album["name"],
                release_date=album["release_date"], release_date_precision=album["release_date_precision"],
                total_tracks=12,
            )
        if artists:
            fields["artists"] = artists
        return self._object(
            "track", track_id, **fields, disc_number=1, duration_ms=row["duration_ms"],
            explicit=row["explicit"], external_ids={}, is_local=False, name=row["name"], preview_url=None,
            track_number=1 + sum(track_id.encode()) % 12,  # stable and plausible
        )

    def _audio_features(self, call: _Call) -> _Answer:
        self._authenticate(call, registered=False)
        if self._audio_features_gone:
            return _error(403)  # exactly {"error":{"status":403}}: no message, as Spotify sends it
        ids = _ids(call.query, MAX_AUDIO_FEATURE_IDS)
        if not all(_SPOTIFY_ID.fullmatch(track_id) for track_id in ids):
            raise _bad_request("invalid request")
        return _json(200, {"audio_features": [self._features(track_id) for track_id in ids]})

    def _features(self, track_id: str) -> dict | None:
        row = self.library.tracks.get(track_id)
        if row is None or "spotify" not in row["known_by"]:
            return None
        features = row["features"]
        return {
            **{name: features[name] for name in RECCOBEATS_FIELDS},
            "analysis_url": f"{self.api_base}/audio-analysis/{track_id}",
            "duration_ms": row["duration_ms"], "id": track_id, "time_signature": features["time_signature"],
            "track_href": f"{self.api_base}/tracks/{track_id}", "type": "audio_features",
            "uri": f"spotify:track:{track_id}",
        }

    # -- ReccoBeats -------------------------------------------------------------------------

    def _reccobeats(self, call: _Call) -> _Answer:
        """No key needed. Items carry ReccoBeats' own ids and come in its own order:
        a client must find the Spotify id in `href`, not rely on positions."""
        content = []
        for track_id in dict.fromkeys(_ids(call.query, MAX_RECCOBEATS_IDS)):
            row = self.library.tracks.get(track_id)
            if row is not None and "reccobeats" in row["known_by"]:
                content.append({
                    "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"reccobeats:{track_id}")),
                    "href": f"https://open.spotify.com/track/{track_id}",
                    **{name: row["features"][name] for name in RECCOBEATS_FIELDS},
                })
        content.sort(key=lambda item: item["id"])
        return _json(200, {"content": content})

    # -- the accounts service ------------------------------------------------------------

    def _authorize(self, call: _Call) -> _Answer:
        """Stands in for the login page: logs in `user=NAME` (default the first person) at once."""
        query = call.query
        client_id = query.get("client_id", "")
        if client_id not in self._clients:
            raise _bad_request("INVALID_CLIENT: Invalid client")
        redirect_uri = query.get("redirect_uri", "")
        if not redirect_uri:
            raise _bad_request("INVALID_CLIENT: Invalid redirect URI")
        parts = urlsplit(redirect_uri)
        if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "::1"):
            raise _bad_request("INVALID_CLIENT: Insecure redirect URI")  # no 'localhost' since 2025
        if query.get("response_type") != "code":
            raise _bad_request("unsupported_response_type")
        name = query.get("user") or self.library.people[0].name
        try:
            self.library.person(name)
        except DataError as exc:
            raise _bad_request(str(exc)) from None
        call.person = name
        code = secrets.token_urlsafe(32)
        self._codes[code] = _Code(_Grant(name, client_id, " ".join(query.get("scope", "").split())), redirect_uri)
        params = {"code": code, **({"state": query["state"]} if "state" in query else {})}
        separator = "&" if parts.query else "?"
        return _Answer(302, headers={"Location": f"{redirect_uri}{separator}{urlencode(params)}"})

    def _token(self, call: _Call) -> _Answer:
        form = _form(call)
        client_id = self._client_of(call, form)
        grant_type = form.get("grant_type")
        if grant_type == "refresh_token":
            grant = self._refresh_tokens.get(form.get("refresh_token", ""))
            if grant is None or grant.client_id != client_id:
                raise _oauth_error("invalid_grant", "Invalid refresh token")
            call.person = grant.person
            return _json(200, self._new_access_token(grant))  # no new refresh token: Spotify keeps it
        if grant_type == "authorization_code":
            code = self._codes.pop(form.get("code", ""), None)  # a code works once, even if refused
            if code is None or code.grant.client_id != client_id:
                raise _oauth_error("invalid_grant", "Invalid authorization code")
            call.person = code.grant.person
            if form.get("redirect_uri") != code.redirect_uri:
                raise _oauth_error("invalid_grant", "Invalid redirect URI")
            refresh_token = self._new_refresh_token(code.grant)
            return _json(200, {**self._new_access_token(code.grant), "refresh_token": refresh_token})
        if grant_type is None:
            raise _oauth_error("unsupported_grant_type", "grant_type parameter is missing")
        raise _oauth_error("unsupported_grant_type", f"grant_type must be client_credentials, "
                           f"authorization_code or refresh_token, not {grant_type!r}")

    def _client_of(self, call: _Call, form: dict[str, str]) -> str:
        """The app calling: HTTP Basic, or client_id/client_secret in the form, as Spotify accepts."""
        header = call.headers.get("Authorization", "")
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if header.startswith("Basic "):
            try:
                client_id, _, secret = base64.b64decode(header[6:], validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                client_id = secret = ""
        expected = self._clients.get(client_id)
        if expected is None or not secrets.compare_digest(expected.encode(), secret.encode()):
            raise _oauth_error("invalid_client", "Invalid client")
        return client_id

    # -- admin, for another process -----------------------------------------------------

    def _admin(self, call: _Call) -> _Answer:
        if not ipaddress.ip_address(call.client_ip).is_loopback:
            return _error(403, "admin endpoints answer loopback callers only")
        action = {
            ("GET", "/admin/people"): self._admin_people,
            ("GET", "/admin/requests"): lambda data: self.requests(call.query.get("endpoint")),
            ("DELETE", "/admin/requests"): lambda data: {"cleared": self.clear_requests()},
            ("POST", "/admin/faults"): self._admin_fault,
            ("DELETE", "/admin/faults"): self._admin_clear_faults,
            ("POST", "/admin/likes"): self._admin_add_likes,
            ("DELETE", "/admin/likes"): lambda data: {
                "removed": self.remove_like(*_fields(data, "person", "track_id"))},
            ("GET", "/admin/client"): lambda data: {"client_id": self.client_id},
        }.get((call.method, call.path))
        if action is None:
            return _error(404, "Service not found")
        try:
            data = json.loads(call.body) if call.body else {}
            if not isinstance(data, dict):
                raise DataError("the body must be a JSON object")
            return _json(200, action(data))
        except (DataError, ValueError) as exc:  # ValueError: bad JSON
            return _error(400, str(exc))

    def _admin_people(self, data: dict) -> list[dict]:
        return [{"name": p.name, "user_id": p.user_id, "refresh_token": self.refresh_token(p.name)}
                for p in self.library.people]

    def _admin_clear_faults(self, data: dict) -> dict:
        self.clear_faults()
        return {"cleared": True}

    def _admin_fault(self, data: dict) -> dict:
        """{"action": NAME, ...the keyword arguments of the Python method of that name}."""
        data = dict(data)
        action = data.pop("action", None)
        if action not in self._FAULT_ACTIONS:
            raise DataError(f"action must be one of {', '.join(self._FAULT_ACTIONS)}")
        method = getattr(self, action)
        try:
            bound = inspect.signature(method).bind(**data)
        except TypeError as exc:
            raise DataError(f"{action}: {exc}") from None
        method(*bound.args, **bound.kwargs)
        return {"ok": True}

    def _admin_add_likes(self, data: dict) -> dict:
        """One like (track_id, or a new track), `new` new tracks, or one `quirk` item."""
        (person,) = _fields(data, "person")
        added_at = data.get("added_at")
        if "quirk" in data:
            return {"track_ids": [self.add_quirk(person, data["quirk"], added_at)]}
        if "new" in data:
            if not isinstance(data["new"], int) or data["new"] < 1:
                raise DataError("'new' must be a positive integer")
            return {"track_ids": [self.add_like(person, None, added_at) for _ in range(data["new"])]}
        return {"track_ids": [self.add_like(person, data.get("track_id"), added_at)]}


# -- small helpers --------------------------------------------------------------------


def _stamp(added_at: str | None) -> str:
    """Spotify's added_at format; the like lists sort by it as text, so it must be exact."""
    if added_at is None:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if not isinstance(added_at, str) or not _STAMP.fullmatch(added_at):
        raise DataError(f"added_at must look like 2024-05-01T12:00:00Z, not {added_at!r}")
    return added_at


def _int_param(query: dict[str, str], name: str, default: int, low: int, high: int | None = None) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]+", raw) or int(raw) < low or (high is not None and int(raw) > high):
        raise _bad_request(f"Invalid {name}")
    return int(raw)


def _ids(query: dict[str, str], maximum: int) -> list[str]:
    raw = query.get("ids")
    if not raw:
        raise _bad_request("Missing required parameter: ids")
    ids = raw.split(",")
    if len(ids) > maximum:
        raise _bad_request("Too many ids requested")
    return ids


def _form(call: _Call) -> dict[str, str]:
    """The token endpoint reads form bodies only; anything else looks like an empty form."""
    if call.headers.get_content_type() != "application/x-www-form-urlencoded":
        return {}
    return dict(parse_qsl(call.body.decode("utf-8", "replace"), keep_blank_values=True))


def _fields(data: dict, *names: str) -> list:
    missing = [name for name in names if name not in data]
    if missing:
        raise DataError(f"missing field(s): {', '.join(missing)}")
    return [data[name] for name in names]


# -- HTTP plumbing ----------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a client that keeps a connection open must not keep the process alive

    def __init__(self, emulator: Emulator):
        self.emulator = emulator
        self.connections: set[socket.socket] = set()
        super().__init__(("127.0.0.1", emulator.port), _Handler)

    def hang_up_all(self) -> None:
        with self.emulator._lock:
            connections = list(self.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:
        # Clients hanging up (timeouts, our own resets) are normal here; anything else is a bug.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a first sync makes thousands of calls
    disable_nagle_algorithm = True  # else every keep-alive answer can wait 40 ms for a delayed ACK
    timeout = 60  # an idle kept-alive connection gives its thread back
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.emulator._lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.emulator._lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        call = _Call(
            method=self.command, path=parts.path, query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=self.headers, body=self.rfile.read(length) if length else b"",
            client_ip=self.client_address[0],
        )
        answer = self.server.emulator._answer(call)
        if answer.status == 0:  # the reset_connections fault: RST instead of an answer
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer.body)

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch

    def log_message(self, format: str, *args) -> None:
        """Silent: the request log replaces the access log, and a logged URL could carry a secret."""
