"""The one retry policy for every call to Spotify and ReccoBeats.

Spotify rate-limits over a rolling 30-second window and answers 429 with a
`Retry-After` that can be hours; 502/503/504 come in bursts. So:

- 429 waits `Retry-After` (plus a little jitter), never less;
- 500/502/503/504, connection errors and garbled answers back off
  exponentially with jitter;
- a `Retry-After` above the cap (`spotify.max_retry_after_seconds`) or a
  daily `QUOTA_EXCEEDED` is not slept inside a task: we stop with
  `RetryLater` (exit code 75) so that the scheduler tries again later;
- 400, 403 and 404 are never retried: asking again would get the same answer.

tenacity does the looping; this module only decides what is worth another try.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from taskcode.config import SpotifySettings
from taskcode.errors import RetryLater, SpotifyError

log = logging.getLogger(__name__)
T = TypeVar("T")
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})


class MalformedAnswer(Exception):
    """A 200 answer whose body is not the JSON we asked for (seen behind proxies)."""


class HTTPFailure(Exception):
    """A failed answer from any of our HTTP services, with what retrying needs."""

    def __init__(self, status: int, message: str, *, retry_after: float | None = None, reason: str | None = None):
        super().__init__(message)
        self.status, self.message, self.retry_after, self.reason = status, message, retry_after, reason


class ApiError(SpotifyError):
    """A definite answer we must not retry (400, 401, 403, 404): callers may inspect `status`."""

    def __init__(self, status: int | None, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Failure:
    status: int | None  # None: no HTTP answer at all (connection reset, timeout)
    message: str
    retry_after: float | None = None
    reason: str | None = None

    @property
    def transient(self) -> bool:
        return self.status is None or self.status in TRANSIENT_STATUSES or self.status == 429


def describe(exc: BaseException) -> Failure | None:
    """What went wrong, in terms the policy understands; None for other errors."""
    from spotipy.exceptions import SpotifyException

    if isinstance(exc, HTTPFailure):
        return Failure(exc.status, exc.message, exc.retry_after, exc.reason)
    if isinstance(exc, SpotifyException):
        message = str(exc.msg).split("\n", 1)[-1].strip() or f"HTTP {exc.http_status}"
        headers = exc.headers or {}
        return Failure(exc.http_status, message, parse_retry_after(headers.get("Retry-After")), exc.reason)
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        response = exc.response
        return Failure(
            response.status_code,
            _error_message(response),
            parse_retry_after(response.headers.get("Retry-After")),
            _error_reason(response),
        )
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)):
        return Failure(None, f"no answer ({type(exc).__name__})")
    if isinstance(exc, MalformedAnswer):
        return Failure(None, str(exc))
    if isinstance(exc, requests.exceptions.JSONDecodeError):  # spotipy's token calls parse the body themselves
        return Failure(None, "the answer was not JSON")
    return None


def parse_retry_after(value) -> float | None:
    """Seconds from a Retry-After header: a number, or an HTTP date."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        pass
    try:
        moment = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _error_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code} ({response.headers.get('Content-Type', 'no content type')})"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or f"HTTP {response.status_code}")
    return str(body.get("error_description") or error or f"HTTP {response.status_code}")


def _error_reason(response: requests.Response) -> str | None:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    return error.get("reason") if isinstance(error, dict) else None


class RetryPolicy:
    """Retries a call as the module docstring says; `sleep` and `rng` are injectable for tests."""

    def __init__(
        self,
        settings: SpotifySettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ):
        self.settings = settings
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.retries = 0

    def call(self, what: str, fn: Callable[..., T], *args, service: str = "Spotify", **kwargs) -> T:
        """Run fn(*args, **kwargs); `what` names the call in messages ("liked songs of alice").

        `service` is who answers the call: the messages about waiting and quotas name it.
        """
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.max_attempts),
            retry=retry_if_exception(lambda exc: bool((f := describe(exc)) and f.transient)),
            wait=self._wait,
            before_sleep=lambda state: self._before_sleep(what, state),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            return retrying(self._attempt, what, service, fn, *args, **kwargs)
        except RetryLater:
            raise
        except Exception as exc:
            failure = describe(exc)
            if failure is None:
                raise
            if failure.transient:
                raise RetryLater(
                    f"{what}: still failing after {self.settings.max_attempts} attempts "
                    f"({_status_text(failure)}); try again later"
                ) from None
            raise ApiError(failure.status, f"{what}: {_status_text(failure)}") from None

    def _attempt(self, what: str, service: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            failure = describe(exc)
            if failure and failure.status == 429:
                cap = self.settings.max_retry_after_seconds
                if failure.reason == "QUOTA_EXCEEDED":
                    raise RetryLater(
                        f"{what}: {service}'s daily quota is used up (429 QUOTA_EXCEEDED); try again tomorrow"
                    ) from None
                if failure.retry_after is not None and failure.retry_after > cap:
                    raise RetryLater(
                        f"{what}: rate limited, {service} asks to wait {failure.retry_after:.0f} s "
                        f"(more than spotify.max_retry_after_seconds = {cap:g}); try again later"
                    ) from None
            raise

    def _wait(self, state: RetryCallState) -> float:
        failure = describe(state.outcome.exception())
        if failure and failure.status == 429 and failure.retry_after is not None:
            # Never sooner than asked; a little jitter so that parallel tasks do not return together.
            return failure.retry_after + self.rng.uniform(0.01, 0.05 + 0.1 * failure.retry_after)
        ceiling = min(
            self.settings.backoff_max_seconds,
            self.settings.backoff_initial_seconds * 2 ** (state.attempt_number - 1),
        )
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def _before_sleep(self, what: str, state: RetryCallState) -> None:
        self.retries += 1
        failure = describe(state.outcome.exception())
        log.warning(
            "%s: %s; waiting %.1f s before attempt %d of %d",
            what,
            _status_text(failure),
            state.upcoming_sleep,
            state.attempt_number + 1,
            self.settings.max_attempts,
        )


def _status_text(failure: Failure | None) -> str:
    if failure is None:
        return "unknown error"
    if failure.status is None:
        return failure.message
    reason = f", {failure.reason}" if failure.reason else ""
    return f"HTTP {failure.status}{reason}: {failure.message}"
