"""The Emulator: one sample library served as Spotify, its accounts service and ReccoBeats.

Its parts (accounts, likes, faults, request log) share one lock; the methods
here are the Python API tests drive it with, and the admin endpoints call
the same methods for another process.
"""

from __future__ import annotations

import secrets
import threading

from emulator.accounts import DAY, PEOPLE_PER_APP, Accounts
from emulator.faults import Faults
from emulator.library import Library
from emulator.likes import Likes
from emulator.playlists import Playlists
from emulator.requestlog import RequestLog
from emulator.server import Server


class Emulator:
    """Spotify, the accounts service and ReccoBeats for one sample library, on 127.0.0.1."""

    def __init__(
        self,
        library: Library,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        access_token_ttl: int = 3600,
        port: int = 0,
        extended_quota: bool = False,
        people_per_app: int | None = PEOPLE_PER_APP,
    ):
        """`extended_quota`: an app Spotify still serves /audio-features to; by default a development-mode one."""
        self.library = library
        self.extended_quota = extended_quota
        self.client_id = client_id or secrets.token_hex(16)
        self.client_secret = client_secret or secrets.token_hex(16)
        self.port = port
        self.lock = threading.RLock()  # the one lock: every read and change of the parts below
        self.accounts = Accounts(
            library, self.lock, self.client_id, self.client_secret, access_token_ttl, people_per_app
        )
        self.likes = Likes(library, self.lock)
        self.playlists = Playlists(library, self.lock)
        self.faults = Faults(self.lock, audio_features_gone=not extended_quota)
        self.request_log = RequestLog(self.lock)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- running ------------------------------------------------------------------

    def start(self) -> Emulator:
        if self._server is None:
            self._server = Server(self)
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"spotify-emulator-{self.port}",
                daemon=True,
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

    def __enter__(self) -> Emulator:
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
        """Another app: development-mode apps take five people each, so big homes need several."""
        self.accounts.add_client(client_id, client_secret)

    def refresh_token(self, name: str, client_id: str | None = None) -> str:
        """The person's current refresh token for an app (default: the main one), valid with that app only."""
        return self.accounts.refresh_token(name, client_id)

    def authorize_again(self, name: str, client_id: str | None = None, scope: str | None = None) -> str:
        """The person logs in to the app again: a new refresh token, its lifetime counted from now.

        `scope`: what the login grants (default: what the project asks for, playlists included).
        """
        return self.accounts.authorize_again(name, client_id, *([scope] if scope is not None else []))

    def revoke(self, name: str) -> None:
        """The person removed the app: refresh tokens answer invalid_grant, access tokens 401."""
        self.accounts.revoke(name)

    def unregister(self, name: str) -> None:
        """The person is no longer listed in the app's dashboard (development mode): 403."""
        self.accounts.unregister(name)

    def expire_access_tokens(self) -> None:
        """Every access token issued so far expires now: refresh paths get tested without sleeping."""
        self.accounts.expire_access_tokens()

    def advance_clock(self, days: float = 0, seconds: float = 0) -> float:
        """Move the accounts' clock forward: access and refresh tokens age as if that time had passed.

        Returns the emulator's time now (Unix seconds).
        """
        self.accounts.advance_clock(days * DAY + seconds)
        return self.now()

    def now(self) -> float:
        """The emulator's clock (Unix seconds): wall time plus every `advance_clock`."""
        return self.accounts.clock.now()

    # -- changing the library while it is served ------------------------------------------

    def add_like(self, name: str, track_id: str | None = None, added_at: str | None = None) -> str:
        """Like a known track, or (no id) a brand-new one drawn from the person's taste."""
        return self.likes.add_like(name, track_id, added_at)

    def remove_like(self, name: str, track_id: str) -> bool:
        return self.likes.remove_like(name, track_id)

    def add_quirk(self, name: str, kind: str, added_at: str | None = None) -> str | None:
        """Put one odd item, as real libraries have them, into the person's /me/tracks.

        Returns the id the item carries (None for a null track or a local file).
        "missing_album" and "non_ascii" are real new likes in the library (a sync
        must store them); the others exist only in what /me/tracks answers.
        """
        return self.likes.add_quirk(name, kind, added_at, self.api_base)

    # -- playlists ----------------------------------------------------------------------

    def playlists_of(self, name: str | None = None) -> dict[str, list[dict]]:
        """Each person's playlists (or one person's), each with its songs' track ids in order."""
        view = self.playlists.view()
        return view if name is None else {name: view[self.library.person(name).name]}

    def playlist(self, playlist_id: str) -> dict:
        """One playlist, deleted or not: its owner, `in_library`, its songs' track ids in order."""
        return self.playlists.one(playlist_id)

    def delete_playlist(self, playlist_id: str) -> bool:
        """The owner deleted the playlist in Spotify's app: out of their library, still writable, as in Spotify.

        True the first time; False when it was already out of their library.
        """
        return self.playlists.delete(playlist_id)

    # -- faults ---------------------------------------------------------------------

    def rate_limit(
        self, endpoint: str, every: int = 1, retry_after: float = 1, reason: str | None = None, times: int | None = None
    ) -> None:
        """Every N-th call answers 429 with Retry-After, and opens a real window (see faults.RateLimit)."""
        self.faults.rate_limit(endpoint, every, retry_after, reason, times)

    def fail(self, endpoint: str, status: int = 503, count: int = 1, html: bool = False) -> None:
        """The next `count` calls answer a server error (a burst of 503s, a proxy's HTML 502...)."""
        self.faults.fail(endpoint, status, count, html)

    def refuse(self, endpoint: str, status: int = 400, count: int = 1) -> None:
        """The next `count` calls answer a client error (400, 403, 404…): a definite no, not worth retrying."""
        self.faults.refuse(endpoint, status, count)

    def malformed(self, endpoint: str, count: int = 1) -> None:
        """The next `count` successful answers carry a truncated JSON body."""
        self.faults.malformed(endpoint, count)

    def reset_connections(self, endpoint: str, count: int = 1) -> None:
        """The next `count` calls get the connection closed without any answer."""
        self.faults.reset_connections(endpoint, count)

    def latency(self, endpoint: str, seconds: float) -> None:
        """Delay every answer of the endpoint (0 switches it off)."""
        self.faults.latency(endpoint, seconds)

    def deprecate_audio_features(self, on: bool = True) -> None:
        """/v1/audio-features answers 403 without a message, as for every development-mode app (off: served)."""
        self.faults.deprecate_audio_features(on)

    def clear_faults(self) -> None:
        """Switch every fault off and re-register everyone (revoked tokens stay revoked).

        /v1/audio-features goes back to what the app's kind gets: 403 unless it has extended quota.
        """
        with self.lock:
            self.faults.clear()
            self.accounts.unregistered.clear()

    # -- the request log ---------------------------------------------------------------

    def requests(self, endpoint: str | None = None) -> list[dict]:
        """Calls so far, oldest first (admin calls are not logged; no token is ever in it)."""
        if endpoint is not None:
            self.faults.of(endpoint)  # validates the key
        return self.request_log.entries(endpoint)

    def clear_requests(self) -> int:
        return self.request_log.clear()
