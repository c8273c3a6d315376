"""The one Spotify client: spotipy, our retry policy, tokens kept in PostgreSQL.

spotipy retries inside urllib3 by default and sleeps the full Retry-After,
even hours. Handing it a plain `requests.Session` switches that off and keeps
the response headers, so that `taskcode.retry` alone owns the policy. The
API and accounts base URLs come from the settings, so the whole system can
talk to the local emulator instead of Spotify.

Tokens live in the `spotify_tokens` table through a spotipy `CacheHandler`:
no `.cache` file anywhere, and any container can sync any person.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import requests
import spotipy
from spotipy.cache_handler import CacheHandler
from spotipy.oauth2 import SpotifyOAuth

from taskcode import db, store
from taskcode.config import Settings
from taskcode.errors import AuthorizationError, ConfigError
from taskcode.log import register_secret
from taskcode.retry import ApiError, HTTPFailure, MalformedAnswer, RetryPolicy, parse_retry_after

log = logging.getLogger(__name__)
# spotipy logs every HTTP error at ERROR before our policy decides it is harmless.
logging.getLogger("spotipy.client").setLevel(logging.CRITICAL)
UNREGISTERED = ("not registered", "may not be registered")  # the older text and Spotify's 2026 one
PLAYLIST_SCOPE = "playlist-modify-private"  # writing the person's private playlists
MAX_PLAYLIST_URIS = 100  # per request, for replace and append alike
LIBRARY_SCOPE = "user-library-read"  # reading the person's library: liked songs, saved playlists


class CallCounter:
    """Counts answered HTTP calls per endpoint (a `requests` response hook)."""

    def __init__(self):
        self.calls: Counter[str] = Counter()

    def hook(self, response: requests.Response, *args, **kwargs) -> None:
        self.calls[endpoint_name(response.request.url)] += 1

    def session(self) -> requests.Session:
        session = requests.Session()
        session.hooks["response"].append(self.hook)
        return session

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def endpoint_name(url: str) -> str:
    """'/v1/me/tracks?…' -> 'me/tracks'; the log never needs more than that."""
    path = urlsplit(url).path.rstrip("/")
    for name in ("me/tracks", "me/playlists", "me/library/contains", "audio-features", "api/token", "me"):
        if path.endswith("/" + name):
            return "reccobeats/audio-features" if "recco" in url and name == "audio-features" else name
    return path.rsplit("/", 1)[-1] or "/"


class DatabaseCacheHandler(CacheHandler):
    """spotipy's token cache, kept in PostgreSQL.

    Saves use a short connection of their own, so that a refreshed token is
    kept even if the sync transaction that triggered it rolls back.
    """

    def __init__(self, settings: Settings, person_id: int, token_info: dict | None):
        self.settings, self.person_id, self.token_info = settings, person_id, token_info
        _register_token(token_info)

    def get_cached_token(self):
        return self.token_info

    def save_token_to_cache(self, token_info):
        _register_token(token_info)
        self.token_info = token_info
        log.debug(
            "keeping a new access token for person %d (expires at %s)", self.person_id, token_info.get("expires_at")
        )
        with db.connection(self.settings) as conn, db.transaction(conn) as cur:
            store.save_token(cur, self.person_id, token_info)

    def discard(self) -> None:
        """Spotify answered invalid_grant: the token is dead and must not be tried again."""
        self.token_info = None
        with db.connection(self.settings) as conn, db.transaction(conn) as cur:
            store.discard_token(cur, self.person_id)


def _register_token(token_info: dict | None) -> None:
    for key in ("access_token", "refresh_token"):
        register_secret((token_info or {}).get(key))


class TokenEndpointError(Exception):
    """An error answer of the accounts service, with its status (spotipy drops it)."""

    def __init__(self, status: int, error: str | None, description: str | None, headers):
        super().__init__(f"{error}: {description}")
        self.status, self.error, self.description, self.headers = status, error, description, headers


class OAuth(SpotifyOAuth):
    """SpotifyOAuth against configurable accounts URLs, keeping the HTTP status of errors."""

    def __init__(self, settings: Settings, client_id: str, client_secret: str, scope: str | None = None, **kwargs):
        register_secret(client_secret)
        super().__init__(
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=settings.spotify.redirect_uri,
            scope=scope or settings.spotify.scope,
            open_browser=False,
            requests_timeout=settings.spotify.timeout_seconds,
            **kwargs,
        )
        self.OAUTH_AUTHORIZE_URL = settings.spotify.accounts_base + "/authorize"
        self.OAUTH_TOKEN_URL = settings.spotify.accounts_base + "/api/token"

    def _handle_oauth_error(self, http_error):
        response = http_error.response
        try:
            body = response.json()
        except ValueError:
            body = {}
        raise TokenEndpointError(
            response.status_code,
            body.get("error") if isinstance(body, dict) else None,
            body.get("error_description") if isinstance(body, dict) else None,
            response.headers,
        )

    @staticmethod
    def _get_user_input(prompt):
        # spotipy asks on stdin when a token is missing; a nightly job has no one to answer.
        raise EOFError("interactive login needed")


def requested_scope(settings: Settings) -> str:
    """What a login asks for: the configured scope and the playlists' (a cached token need only hold the former)."""
    return " ".join(dict.fromkeys([*settings.spotify.scope.split(), PLAYLIST_SCOPE]))


class MissingScope(AuthorizationError):
    """The person's token was granted without a scope a call needs: they must log in again."""


def app_credentials(settings: Settings, person: store.PersonRecord | None = None) -> tuple[str, str]:
    """The person's own Spotify app if they have one, else the configured app."""
    if person and person.client_id and person.client_secret:
        return person.client_id, person.client_secret
    client_id, secret = settings.spotify.client_id, settings.spotify.client_secret
    if not client_id or not secret:
        raise ConfigError(
            "no Spotify app credentials: set SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET "
            "(or spotify.client_id/client_secret, or --client-id/--client-secret for one person)"
        )
    return client_id, secret


class SpotifyClient:
    """One person's view of the Web API, every call through the retry policy."""

    def __init__(
        self,
        settings: Settings,
        name: str,
        credentials: tuple[str, str],
        cache: CacheHandler,
        *,
        counter: CallCounter | None = None,
        policy: RetryPolicy | None = None,
        scope: str | None = None,
    ):
        """`scope`: what an interactive login asks for (default the configured one)."""
        self.settings, self.name, self.cache = settings, name, cache
        self.counter = counter or CallCounter()
        self.policy = policy or RetryPolicy(settings.spotify)
        session = self.counter.session()
        self.oauth = OAuth(settings, *credentials, scope, cache_handler=cache, requests_session=session)
        self.sp = spotipy.Spotify(
            auth_manager=self.oauth,
            requests_session=session,
            requests_timeout=settings.spotify.timeout_seconds,
            retries=0,
            status_retries=0,
        )
        self.sp.prefix = settings.spotify.api_base + "/"

    # -- the calls we make --------------------------------------------------

    def me(self) -> dict:
        return self._call("profile", self.sp.current_user)

    def saved_tracks(self, offset: int, limit: int) -> dict:
        return self._call(
            f"liked songs at offset {offset}",
            self.sp.current_user_saved_tracks,
            limit=limit,
            offset=offset,
            expect=lambda page: isinstance(page, dict) and isinstance(page.get("items"), list),
        )

    def audio_features(self, track_ids: list[str]) -> list:
        def fetch():
            with warnings.catch_warnings():  # spotipy warns that the endpoint is deprecated; we know
                warnings.simplefilter("ignore", DeprecationWarning)
                try:
                    return self.sp.audio_features(track_ids)
                except TypeError:  # spotipy indexes into a garbled (None) answer
                    raise MalformedAnswer("the answer was not JSON") from None

        return self._call(
            "audio features",
            fetch,
            expect=lambda answer: isinstance(answer, list) and len(answer) == len(track_ids),
        )

    # -- playlists: the 2026 endpoints (spotipy's helpers still call the old /tracks ones)

    def create_playlist(self, name: str, description: str) -> dict:
        """A private playlist in the person's account (Spotify's default would be public)."""
        body = {"name": name, "public": False, "description": description}
        return self._playlist_call("new playlist", self.sp._post, "me/playlists", payload=body)

    def replace_playlist_items(self, playlist_id: str, uris: list[str]) -> dict:
        """The playlist becomes these songs (at most 100: append the rest)."""
        return self._playlist_call(
            f"playlist {playlist_id}", self.sp._put, f"playlists/{playlist_id}/items", payload={"uris": uris}
        )

    def add_playlist_items(self, playlist_id: str, uris: list[str]) -> dict:
        return self._playlist_call(
            f"playlist {playlist_id}", self.sp._post, f"playlists/{playlist_id}/items", payload={"uris": uris}
        )

    def library_contains(self, uris: list[str]) -> list[bool]:
        """Whether each URI (at most 40) is in the person's library, in order; a playlist they deleted is not."""

        def booleans(answer) -> bool:
            return isinstance(answer, list) and len(answer) == len(uris) and all(isinstance(a, bool) for a in answer)

        query, scope = {"uris": ",".join(uris)}, LIBRARY_SCOPE
        return self._playlist_call("library", self.sp._get, "me/library/contains", query, scope=scope, expect=booleans)

    def _playlist_call(self, what: str, fn, *args, scope: str = PLAYLIST_SCOPE, **kwargs):
        """A call of the playlists' stage: a token granted without `scope` is told to authorize again."""
        try:
            return self._call(what, fn, *args, **kwargs)
        except ApiError as exc:
            if exc.status == 403 and "scope" in str(exc).lower():
                raise MissingScope(
                    f"{self.name}'s Spotify authorization lacks the scope {scope} (playlists); "
                    f"run: python -m taskcode authorize --user {self.name}"
                ) from None
            raise

    def exchange_code(self, code: str) -> None:
        """The authorization-code step of an interactive login; the token lands in the cache."""
        self.policy.call(
            f"Spotify token for {self.name}",
            self._translate_token_errors(self.oauth.get_access_token),
            code,
            as_dict=False,
            check_cache=False,
        )

    # -- the machinery --------------------------------------------------------

    def _call(self, what: str, fn, *args, expect=lambda answer: isinstance(answer, dict), **kwargs):
        what = f"Spotify {what} for {self.name}"

        def checked():
            result = fn(*args, **kwargs)
            if not expect(result):  # spotipy turns a garbled body into None
                raise MalformedAnswer("the answer was not the JSON we asked for")
            return result

        def once():
            try:
                return self.policy.call(what, self._translate_token_errors(checked))
            except ApiError as exc:
                if exc.status == 401:
                    raise _Unauthorized() from None
                raise

        try:
            return once()
        except _Unauthorized:
            # The access token was refused before its time: refresh it once and try again.
            self._refresh()
            try:
                return once()
            except _Unauthorized:
                raise AuthorizationError(self._reauthorize("Spotify refuses the fresh access token")) from None
        except ApiError as exc:
            if exc.status == 403 and any(text in str(exc).lower() for text in UNREGISTERED):
                raise AuthorizationError(not_listed(self.name)) from None
            raise

    def _refresh(self) -> None:
        token = self.cache.get_cached_token() or {}
        if not token.get("refresh_token"):
            raise AuthorizationError(self._reauthorize("no refresh token is stored"))
        self.policy.call(
            f"token refresh for {self.name}",
            self._translate_token_errors(self.oauth.refresh_access_token),
            token["refresh_token"],
        )

    def _translate_token_errors(self, fn):
        """Token endpoint failures: transient ones retried, the rest one clear line."""

        def run(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except TokenEndpointError as exc:
                if exc.status == 429 or exc.status >= 500:
                    retry_after = exc.headers.get("Retry-After") if exc.headers else None
                    raise HTTPFailure(
                        exc.status, f"token endpoint: {exc.error}", retry_after=parse_retry_after(retry_after)
                    ) from None
                if exc.error == "invalid_grant":
                    why = f"Spotify answered invalid_grant: {exc.description or 'the token is no longer valid'}"
                    if self._discard():
                        why += "; the stored token was discarded"
                    raise AuthorizationError(self._reauthorize(why)) from None
                if exc.error == "invalid_client":
                    raise AuthorizationError(
                        "Spotify refuses the app credentials (invalid_client): check SPOTIFY_CLIENT_ID and "
                        f"SPOTIFY_CLIENT_SECRET, or {self.name}'s own --client-id/--client-secret"
                    ) from None
                raise AuthorizationError(
                    self._reauthorize(f"the token endpoint answered {exc.error or exc.status}")
                ) from None
            except EOFError:
                raise AuthorizationError(
                    self._reauthorize("the stored authorization is missing or lacks a scope")
                ) from None

        return run

    def _discard(self) -> bool:
        """Forget a stored token Spotify refused for good (it says not to retry it)."""
        if isinstance(self.cache, DatabaseCacheHandler):
            self.cache.discard()
            return True
        return False

    def _reauthorize(self, why: str) -> str:
        name = self.name
        return f"{name}'s Spotify authorization is not usable ({why}); run: python -m taskcode authorize --user {name}"


class _Unauthorized(Exception):
    pass


def not_listed(name: str) -> str:
    """Spotify's 403 for a person the app does not admit: the five-people limit, and the way around it."""
    return (
        f"{name} is not registered in the Spotify app's Developer Dashboard (the five-people limit: a "
        "development-mode app admits at most five listed people): list them there, or authorize them with "
        f"an app of their own: python -m taskcode authorize --user {name} --client-id ID"
    )


def client_for(settings: Settings, conn, person: store.PersonRecord, **kwargs) -> SpotifyClient:
    """A client with the person's stored token; a clear error if they never authorized (or it was discarded)."""
    with db.transaction(conn) as cur:
        token = store.load_token(cur, person.person_id)
    if not token:
        state = "needs to authorize Spotify again" if person.authorized_at else "has not authorized Spotify yet"
        raise AuthorizationError(f"{person.name} {state}; run: python -m taskcode authorize --user {person.name}")
    cache = DatabaseCacheHandler(settings, person.person_id, token)
    return SpotifyClient(settings, person.name, app_credentials(settings, person), cache, **kwargs)


def read_cache_file(path: Path) -> dict:
    """A token file written by spotipy's CacheFileHandler (the original project's `.cache`)."""
    try:
        token = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise AuthorizationError(f"cannot read the token file {path}: {exc.strerror}") from None
    except ValueError:
        raise AuthorizationError(f"{path} is not a spotipy token file (invalid JSON)") from None
    if not isinstance(token, dict) or not token.get("refresh_token"):
        raise AuthorizationError(f"{path} holds no refresh_token; authorize interactively instead") from None
    return token
