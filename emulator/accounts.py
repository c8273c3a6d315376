"""The accounts service: apps, the authorize page, /api/token, and the tokens it hands out.

Like Spotify in 2026, a refresh token works only with the app it was issued
to, is kept across refreshes and expires a fixed time after the person's
original authorization (refreshing does not extend it); access tokens expire;
a development-mode app admits five people; a person can remove the app
(revoke) or drop off the app's list (unregister). Expiry is read from a
clock that tests move forward instead of waiting half a year.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import math
import secrets
import threading
import time
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from emulator.library import Library
from emulator.messages import Answer, Call, Refused, bad_request, error, form, json_answer, oauth_error
from taskcode.errors import DataError

if TYPE_CHECKING:
    from emulator.service import Emulator

LIBRARY_SCOPE = "user-library-read"  # what /me/tracks needs
GRANTED_SCOPE = "user-library-read playlist-modify-private"  # what the project asks for: a login grants it
REFRESH_TOKEN_LIFETIME_DAYS = 182  # six months after the original authorization, since 2026-07-20
PEOPLE_PER_APP = 5  # a development-mode app's limit
NOT_LISTED = "Check settings on developer.spotify.com/dashboard, the user may not be registered."
DAY = 86400.0


class Clock:
    """Wall time plus an offset that tests move: half a year passes in a call."""

    def __init__(self):
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise DataError("the emulator clock only moves forward")
        self.offset += seconds


@dataclasses.dataclass
class Grant:
    """Who a token speaks for: a person, through one app, with some scopes."""

    person: str
    client_id: str
    scope: str
    authorized_at: float = 0.0  # the original authorization, on the emulator clock
    expires_at: float = math.inf  # access tokens only


@dataclasses.dataclass
class Code:
    grant: Grant
    redirect_uri: str


class Accounts:
    """Apps and tokens; every change holds the emulator's lock."""

    def __init__(
        self,
        library: Library,
        lock: threading.RLock,
        client_id: str,
        client_secret: str,
        access_token_ttl: int,
        people_per_app: int | None = PEOPLE_PER_APP,
    ):
        self.library = library
        self.client_id = client_id
        self.access_token_ttl = access_token_ttl
        self.people_per_app = people_per_app  # None: no limit (an extended-quota app)
        self.refresh_token_lifetime = REFRESH_TOKEN_LIFETIME_DAYS * DAY
        self.clock = Clock()
        self._members: dict[str, list[str]] = {}  # client id -> people, in the order they first authorized
        self._lock = lock
        self.clients = {client_id: client_secret}
        self._refresh_tokens: dict[str, Grant] = {}
        self._access_tokens: dict[str, Grant] = {}
        self._current: dict[tuple[str, str], str] = {}  # (person, client id) -> newest refresh token
        self.codes: dict[str, Code] = {}
        self.unregistered: set[str] = set()

    def add_client(self, client_id: str, client_secret: str) -> None:
        with self._lock:
            self.clients[client_id] = client_secret

    def refresh_token(self, name: str, client_id: str | None = None) -> str:
        """Issued on first use; the same until `revoke`, until it expires or until the person authorizes again.

        Asking for a token after it expired stands for the person authorizing
        the app again: a new token, whose lifetime starts now.
        """
        with self._lock:
            client_id = self._app_of(name, client_id)
            token = self._current.get((name, client_id))
            if token and not self.expired(self._refresh_tokens[token]):
                return token
            return self.authorize_again(name, client_id)

    def authorize_again(self, name: str, client_id: str | None = None, scope: str = GRANTED_SCOPE) -> str:
        """A new login of the person, granting `scope`: a new refresh token, whose lifetime starts now.

        The old token stays valid.
        """
        with self._lock:
            client_id = self._app_of(name, client_id)
            return self.new_refresh_token(Grant(name, client_id, " ".join(scope.split()), self.clock.now()))

    def _app_of(self, name: str, client_id: str | None) -> str:
        self.library.person(name)
        client_id = client_id or self.client_id
        if client_id not in self.clients:
            raise DataError(f"no app {client_id!r} in the emulator; add it with add_client")
        return client_id

    def expired(self, grant: Grant) -> bool:
        """A refresh token's lifetime runs from the original authorization; refreshing does not extend it."""
        return self.clock.now() >= grant.authorized_at + self.refresh_token_lifetime

    def advance_clock(self, seconds: float) -> None:
        with self._lock:
            self.clock.advance(seconds)

    def listed(self, person: str, client_id: str) -> bool:
        """Among the first people of the app (development mode lists five); a sixth is refused."""
        members = self._members.get(client_id, [])
        return self.people_per_app is None or person in members[: self.people_per_app]

    def revoke(self, name: str) -> None:
        with self._lock:
            self.library.person(name)
            for tokens in (self._refresh_tokens, self._access_tokens):
                for token in [t for t, grant in tokens.items() if grant.person == name]:
                    del tokens[token]
            self._current = {key: t for key, t in self._current.items() if key[0] != name}

    def unregister(self, name: str) -> None:
        with self._lock:
            self.library.person(name)
            self.unregistered.add(name)

    def expire_access_tokens(self) -> None:
        with self._lock:
            for grant in self._access_tokens.values():
                grant.expires_at = 0.0

    def new_refresh_token(self, grant: Grant) -> str:
        token = "AQ" + secrets.token_urlsafe(48)
        self._refresh_tokens[token] = grant
        self._current[(grant.person, grant.client_id)] = token
        members = self._members.setdefault(grant.client_id, [])
        if grant.person not in members:
            members.append(grant.person)
        return token

    def new_access_token(self, grant: Grant) -> dict:
        token = "BQ" + secrets.token_urlsafe(48)
        self._access_tokens[token] = dataclasses.replace(grant, expires_at=self.clock.now() + self.access_token_ttl)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.access_token_ttl,
            "scope": grant.scope,
        }

    def refresh_grant(self, token: str) -> Grant | None:
        return self._refresh_tokens.get(token)

    def authenticate(self, call: Call, scope: str | None = None, registered: bool = True) -> None:
        """Check the bearer token like the Web API does; remember whose call it is."""
        header = call.headers.get("Authorization")
        if not header:
            raise Refused(error(401, "No token provided"))
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer":
            raise Refused(error(400, "Only valid bearer authentication supported"))
        grant = self._access_tokens.get(token.strip())
        if grant is None:
            raise Refused(error(401, "Invalid access token"))
        call.person = grant.person  # logged even when refused below
        if self.clock.now() >= grant.expires_at:
            raise Refused(error(401, "The access token expired"))
        if registered and grant.person in self.unregistered:
            raise Refused(error(403, "User not registered in the Developer Dashboard"))
        if registered and not self.listed(grant.person, grant.client_id):
            raise Refused(error(403, NOT_LISTED))
        if scope and scope not in grant.scope.split():
            raise Refused(error(403, "Insufficient client scope"))

    def has_scope(self, call: Call, scope: str) -> bool:
        """Whether the call's (already authenticated) token was granted `scope`."""
        grant = self._access_tokens.get(call.headers.get("Authorization", "").partition(" ")[2].strip())
        return grant is not None and scope in grant.scope.split()


# -- the routes --------------------------------------------------------------------


def authorize(emu: Emulator, call: Call) -> Answer:
    """Stands in for the login page: logs in `user=NAME` (default the first person) at once."""
    query, accounts = call.query, emu.accounts
    client_id = query.get("client_id", "")
    if client_id not in accounts.clients:
        raise bad_request("INVALID_CLIENT: Invalid client")
    redirect_uri = query.get("redirect_uri", "")
    if not redirect_uri:
        raise bad_request("INVALID_CLIENT: Invalid redirect URI")
    if not _allowed_redirect(redirect_uri):
        raise bad_request("INVALID_CLIENT: Insecure redirect URI")
    parts = urlsplit(redirect_uri)
    if query.get("response_type") != "code":
        raise bad_request("unsupported_response_type")
    name = query.get("user") or emu.library.people[0].name
    try:
        emu.library.person(name)
    except DataError as exc:
        raise bad_request(str(exc)) from None
    call.person = name
    code = secrets.token_urlsafe(32)
    scope = " ".join(query.get("scope", "").split())
    accounts.codes[code] = Code(Grant(name, client_id, scope, accounts.clock.now()), redirect_uri)
    params = {"code": code, **({"state": query["state"]} if "state" in query else {})}
    separator = "&" if parts.query else "?"
    return Answer(302, headers={"Location": f"{redirect_uri}{separator}{urlencode(params)}"})


def token(emu: Emulator, call: Call) -> Answer:
    """POST /api/token: a refresh, or an authorization code traded for the first tokens."""
    accounts, fields = emu.accounts, form(call)
    client_id = _client_of(accounts, call, fields)
    grant_type = fields.get("grant_type")
    if grant_type == "refresh_token":
        grant = accounts.refresh_grant(fields.get("refresh_token", ""))
        if grant is None or grant.client_id != client_id:
            raise oauth_error("invalid_grant", "Invalid refresh token")
        call.person = grant.person
        if accounts.expired(grant):
            raise oauth_error("invalid_grant", "Refresh token expired")
        return json_answer(200, accounts.new_access_token(grant))  # no new refresh token: Spotify keeps it
    if grant_type == "authorization_code":
        code = accounts.codes.pop(fields.get("code", ""), None)  # a code works once, even if refused
        if code is None or code.grant.client_id != client_id:
            raise oauth_error("invalid_grant", "Invalid authorization code")
        call.person = code.grant.person
        if fields.get("redirect_uri") != code.redirect_uri:
            raise oauth_error("invalid_grant", "Invalid redirect URI")
        refresh_token = accounts.new_refresh_token(code.grant)
        return json_answer(200, {**accounts.new_access_token(code.grant), "refresh_token": refresh_token})
    if grant_type is None:
        raise oauth_error("unsupported_grant_type", "grant_type parameter is missing")
    raise oauth_error(
        "unsupported_grant_type",
        f"grant_type must be client_credentials, authorization_code or refresh_token, not {grant_type!r}",
    )


def _allowed_redirect(uri: str) -> bool:
    """HTTPS anywhere but `localhost`; plain http only on a loopback literal (Spotify's rules since 2025)."""
    parts = urlsplit(uri)
    if parts.hostname == "localhost":
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1"))


def _client_of(accounts: Accounts, call: Call, fields: dict[str, str]) -> str:
    """The app calling: HTTP Basic, or client_id/client_secret in the form, as Spotify accepts."""
    header = call.headers.get("Authorization", "")
    client_id, secret = fields.get("client_id", ""), fields.get("client_secret", "")
    if header.startswith("Basic "):
        try:
            client_id, _, secret = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            client_id = secret = ""
    expected = accounts.clients.get(client_id)
    if expected is None or not secrets.compare_digest(expected.encode(), secret.encode()):
        raise oauth_error("invalid_client", "Invalid client")
    return client_id
