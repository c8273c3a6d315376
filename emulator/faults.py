"""Faults switched on per endpoint: rate limits, 5xx bursts, 4xx refusals, malformed bodies, resets, latency, the 403.

A client is only as good as the faults it has met; each of these is one the
real services produce.
"""

from __future__ import annotations

import dataclasses
import http.client
import math
import threading

from emulator.messages import Answer, error, server_error
from taskcode.errors import DataError

# The endpoint keys of the route table: faults and the request log are kept per key.
ENDPOINTS = (
    "me",
    "tracks",
    "audio_features",
    "reccobeats",
    "reccobeats_track",
    "token",
    "authorize",
    "create_playlist",
    "my_playlists",
    "playlist_items",
    "replace_playlist_items",
    "add_playlist_items",
    "library_contains",
)


@dataclasses.dataclass
class RateLimit:
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

    def check(self, now: float) -> Answer | None:
        if now < self.window_ends:
            return self._refusal(self.window_ends - now)
        self.calls += 1
        if self.calls % self.every or self.times == 0:
            return None
        if self.times is not None:
            self.times -= 1
        self.window_ends = now + self.retry_after
        return self._refusal(self.retry_after)

    def _refusal(self, wait: float) -> Answer:
        return error(429, "API rate limit exceeded", self.reason, {"Retry-After": str(math.ceil(wait))})


@dataclasses.dataclass
class EndpointFaults:
    """The faults switched on for one endpoint."""

    latency: float = 0.0
    resets: int = 0
    failures: int = 0
    failure_status: int = 503
    failure_html: bool = False
    refusals: int = 0
    refusal_status: int = 400
    malformed: int = 0
    rate_limit: RateLimit | None = None

    def before(self, now: float) -> Answer | None:
        """The answer a fault imposes instead of the real one, if any."""
        if self.resets:
            self.resets -= 1
            return Answer(0)
        if self.failures:
            self.failures -= 1
            return server_error(self.failure_status, self.failure_html)
        if self.refusals:
            self.refusals -= 1
            return error(self.refusal_status, http.client.responses.get(self.refusal_status, "Client Error"))
        return self.rate_limit.check(now) if self.rate_limit else None

    def after(self, answer: Answer) -> Answer:
        """A successful answer, cut in half while the malformed fault lasts."""
        if answer.status == 200 and self.malformed:
            self.malformed -= 1
            answer.body = answer.body[: len(answer.body) // 2]
        return answer


class Faults:
    """Every endpoint's faults, and whether /v1/audio-features is gone (as for every development-mode app)."""

    def __init__(self, lock: threading.RLock, *, audio_features_gone: bool = True):
        self._lock = lock
        self._by_endpoint = {endpoint: EndpointFaults() for endpoint in ENDPOINTS}
        self._audio_features_gone_by_default = audio_features_gone
        self.audio_features_gone = audio_features_gone

    def of(self, endpoint: str) -> EndpointFaults:
        """The faults of one endpoint; an unknown key is a DataError (it validates admin input too)."""
        if endpoint not in self._by_endpoint:
            raise DataError(f"no endpoint {endpoint!r}; known: {', '.join(ENDPOINTS)}")
        return self._by_endpoint[endpoint]

    def rate_limit(
        self, endpoint: str, every: int = 1, retry_after: float = 1, reason: str | None = None, times: int | None = None
    ) -> None:
        if every < 1 or retry_after < 0 or (times is not None and times < 0):
            raise DataError("rate_limit: every >= 1, retry_after >= 0, times >= 0 or None")
        with self._lock:
            self.of(endpoint).rate_limit = RateLimit(every, retry_after, reason, times)

    def fail(self, endpoint: str, status: int = 503, count: int = 1, html: bool = False) -> None:
        if not 500 <= status <= 599:
            raise DataError(f"fail: status must be a 5xx server error, not {status}")
        with self._lock:
            faults = self.of(endpoint)
            faults.failures, faults.failure_status, faults.failure_html = count, status, html

    def refuse(self, endpoint: str, status: int = 400, count: int = 1) -> None:
        if not 400 <= status <= 499 or status == 429:
            raise DataError(f"refuse: status must be a 4xx client error other than 429 (rate_limit), not {status}")
        with self._lock:
            faults = self.of(endpoint)
            faults.refusals, faults.refusal_status = count, status

    def malformed(self, endpoint: str, count: int = 1) -> None:
        with self._lock:
            self.of(endpoint).malformed = count

    def reset_connections(self, endpoint: str, count: int = 1) -> None:
        with self._lock:
            self.of(endpoint).resets = count

    def latency(self, endpoint: str, seconds: float) -> None:
        with self._lock:
            self.of(endpoint).latency = max(0.0, seconds)

    def deprecate_audio_features(self, on: bool = True) -> None:
        with self._lock:
            self.audio_features_gone = on

    def clear(self) -> None:
        with self._lock:
            self._by_endpoint = {endpoint: EndpointFaults() for endpoint in ENDPOINTS}
            self.audio_features_gone = self._audio_features_gone_by_default
