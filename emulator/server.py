"""HTTP plumbing and the route table: which method and path reach which handler.

The stdlib server, because two faults need the socket itself: a reset
(RST instead of an answer) and a body cut short.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import socket
import struct
import sys
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from emulator import accounts, admin, playlists, reccobeats, webapi
from emulator.messages import Answer, Call, Refused, error

if TYPE_CHECKING:
    from emulator.service import Emulator

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Route:
    endpoint: str  # the key of its faults and of its request log entries
    handler: Callable[[Emulator, Call], Answer]


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/v1/me"): Route("me", webapi.me),
    ("GET", "/v1/me/tracks"): Route("tracks", webapi.saved_tracks),
    ("GET", "/v1/audio-features"): Route("audio_features", webapi.audio_features),
    ("GET", "/reccobeats/v1/audio-features"): Route("reccobeats", reccobeats.audio_features),
    ("GET", "/reccobeats/v1/track"): Route("reccobeats_track", reccobeats.tracks),
    ("POST", "/api/token"): Route("token", accounts.token),
    ("GET", "/authorize"): Route("authorize", accounts.authorize),
    ("POST", "/v1/me/playlists"): Route("create_playlist", playlists.create),
    ("GET", "/v1/me/playlists"): Route("my_playlists", playlists.mine),
    ("GET", "/v1/playlists/{id}/items"): Route("playlist_items", playlists.items),
    ("PUT", "/v1/playlists/{id}/items"): Route("replace_playlist_items", playlists.replace),
    ("POST", "/v1/playlists/{id}/items"): Route("add_playlist_items", playlists.add),
    ("GET", "/v1/me/library/contains"): Route("library_contains", webapi.library_contains),
}
_ENDPOINT_OF_PATH = {path: route.endpoint for (_, path), route in ROUTES.items()}  # for the 405
_PLAYLIST_PATH = re.compile(r"/v1/playlists/([^/]+)(/items)")  # the one path with an id in it


def _template(call: Call, path: str) -> str:
    """The route table's path for this one: an id in the path becomes {id} (kept in `path_params`)."""
    match = _PLAYLIST_PATH.fullmatch(path)
    if match is None:
        return path
    call.path_params["id"] = match.group(1)
    return "/v1/playlists/{id}" + match.group(2)


def answer(emu: Emulator, call: Call) -> Answer:
    """Route one call; every call but the admin's is logged, whatever the answer."""
    try:
        if call.path.startswith("/admin/"):
            return admin.answer(emu, call)  # not logged: the log counts calls to the services
        # Spotify ignores a trailing slash, and spotipy relies on it ("me/", "audio-features/?ids=").
        path = _template(call, call.path.rstrip("/") or "/")
        route = ROUTES.get((call.method, path))
        if route is not None:
            call.endpoint = route.endpoint
            result = _serve(emu, call, route)
        elif path in _ENDPOINT_OF_PATH:
            call.endpoint = _ENDPOINT_OF_PATH[path]
            result = error(405, "Method not allowed")
        else:
            result = error(404, "Service not found")
    except Exception:  # a bug in the emulator: say so over HTTP instead of hanging up
        log.exception("emulator bug while answering %s %s", call.method, call.path)
        result = error(500, "Internal emulator error (see its log)")
    emu.request_log.record(call, result)
    return result


def _serve(emu: Emulator, call: Call, route: Route) -> Answer:
    """The handler's answer, unless a fault switched on for the endpoint answers first."""
    with emu.lock:
        delay = emu.faults.of(route.endpoint).latency
    if delay:
        time.sleep(delay)  # outside the lock: one slow answer must not hold up the others
    with emu.lock:
        faults = emu.faults.of(route.endpoint)
        imposed = faults.before(time.time())
        if imposed is not None:
            return imposed
        try:
            result = route.handler(emu, call)
        except Refused as refusal:
            result = refusal.answer
        return faults.after(result)


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a client that keeps a connection open must not keep the process alive

    def __init__(self, emu: Emulator):
        self.emulator = emu
        self.connections: set[socket.socket] = set()
        super().__init__(("127.0.0.1", emu.port), _Handler)

    def hang_up_all(self) -> None:
        with self.emulator.lock:
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
    server: Server

    def setup(self) -> None:
        super().setup()
        with self.server.emulator.lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.emulator.lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        call = Call(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=self.headers,
            body=self.rfile.read(length) if length else b"",
            client_ip=self.client_address[0],
        )
        result = answer(self.server.emulator, call)
        if result.status == 0:  # the reset_connections fault: RST instead of an answer
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self.send_response(result.status)
        self.send_header("Content-Type", result.content_type)
        self.send_header("Content-Length", str(len(result.body)))
        for name, value in result.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(result.body)

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch

    def log_message(self, format: str, *args) -> None:
        """Silent: the request log replaces the access log, and a logged URL could carry a secret."""
