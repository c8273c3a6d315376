"""Register a person and keep their Spotify authorization in PostgreSQL.

Three ways in, because people arrive from different places:
- interactively (works headless: we print the URL, the person opens it on
  any device and pastes back the URL Spotify redirected to);
- `--refresh-token T`, e.g. from another tool or the emulator;
- `--cache-file PATH`, the `.cache` file spotipy wrote for the original
  project's scripts.

Whatever the way, the token is tried once (`/me`) before anything is stored,
and the person, their token and their profile are written in one transaction.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from pathlib import Path

import psycopg2
from spotipy.cache_handler import MemoryCacheHandler

from taskcode import db, store
from taskcode.config import Settings
from taskcode.errors import AuthorizationError, TaskcodeError
from taskcode.spotify import SpotifyClient, app_credentials, read_cache_file, requested_scope

log = logging.getLogger(__name__)


def authorize(
    settings: Settings,
    conn,
    name: str,
    *,
    refresh_token: str | None = None,
    cache_file: Path | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    ask: Callable[[str], str] = input,
) -> dict:
    """Authorize `name`; returns their Spotify profile ({"id", "display_name", …})."""
    name = name.strip()
    if not name:
        raise TaskcodeError("authorize: --user needs a non-empty name")
    if bool(client_id) != bool(client_secret):
        raise TaskcodeError("authorize: give both --client-id and --client-secret, or neither")
    with db.transaction(conn) as cur:
        known = store.get_people(cur, [name])
    person = known[0] if known else None
    credentials = (client_id, client_secret) if client_id else app_credentials(settings, person)

    if refresh_token:
        token = {
            "refresh_token": refresh_token,
            "access_token": "",
            "token_type": "Bearer",
            "expires_at": 0,
            "scope": settings.spotify.scope,  # what Spotify granted replaces it at the first refresh
        }
    elif cache_file:
        token = read_cache_file(Path(cache_file))
    else:
        token = None
    cache = MemoryCacheHandler(token)
    # A login asks for the playlists' scope too; a token brought along is kept whatever it was granted.
    scope = requested_scope(settings) if token is None else None
    client = SpotifyClient(settings, name, credentials, cache, scope=scope)
    if token is None:
        _interactive_login(client, ask)
    profile = client.me()

    try:
        with db.transaction(conn) as cur:
            person_id = store.ensure_person(cur, name, client_id=client_id, client_secret=client_secret)
            store.save_authorization(cur, person_id, cache.get_cached_token())
            store.set_spotify_profile(cur, person_id, profile.get("id"), profile.get("display_name"))
    except psycopg2.errors.UniqueViolation:
        with db.transaction(conn) as cur:
            owner = store.name_of_spotify_user(cur, profile.get("id"))
        raise AuthorizationError(
            f"this Spotify account is already registered as {owner or 'someone else'!r}; "
            "each person needs their own account"
        ) from None
    return profile


def _interactive_login(client: SpotifyClient, ask: Callable[[str], str]) -> None:
    state = secrets.token_urlsafe(12)
    url = client.oauth.get_authorize_url(state=state)
    prompt = (
        f"Open this address in a browser (any device), log in as {client.name} and allow access:\n\n  {url}\n\n"
        "Spotify then sends the browser to an address that may not load; copy that whole address.\n"
        "Paste the address you were sent to: "
    )
    try:
        answer = ask(prompt).strip()
    except EOFError:
        raise AuthorizationError(
            "authorize: no address was pasted (no terminal?); run it in a terminal, or use --refresh-token "
            "or --cache-file"
        ) from None
    try:
        got_state, code = client.oauth.parse_auth_response_url(answer)
    except Exception as exc:  # spotipy raises when Spotify sent error=access_denied
        raise AuthorizationError(f"authorize: Spotify did not grant access ({getattr(exc, 'error', exc)})") from None
    if not code:
        raise AuthorizationError("authorize: that address holds no ?code=…; paste the full address you were sent to")
    if got_state != state:
        raise AuthorizationError("authorize: that address belongs to another login attempt; start again")
    client.exchange_code(code)
