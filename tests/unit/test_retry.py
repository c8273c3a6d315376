"""The retry policy decides from status, Retry-After and reason; sleeping is injected."""

import pytest
import requests

from taskcode.config import load_settings
from taskcode.errors import RetryLater
from taskcode.retry import ApiError, HTTPFailure, MalformedAnswer, RetryPolicy, parse_retry_after


@pytest.fixture
def policy(write_config):
    settings = load_settings(write_config("spotify:\n  max_attempts: 4\n  max_retry_after_seconds: 30\n"))
    slept = []
    p = RetryPolicy(settings.spotify, sleep=slept.append)
    p.slept = slept
    return p


def failing(*errors, result="ok"):
    """A callable that raises the given errors in turn, then returns `result`."""
    calls = []

    def fn():
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    fn.calls = calls
    return fn


def test_429_waits_at_least_retry_after(policy):
    fn = failing(HTTPFailure(429, "slow down", retry_after=7), HTTPFailure(429, "slow down", retry_after=2))
    assert policy.call("test", fn) == "ok"
    assert len(fn.calls) == 3
    assert 7 <= policy.slept[0] < 8.5 and 2 <= policy.slept[1] < 3


def test_retry_after_above_cap_fails_fast(policy):
    fn = failing(HTTPFailure(429, "slow down", retry_after=3600))
    with pytest.raises(RetryLater, match="wait 3600 s .*max_retry_after_seconds = 30"):
        policy.call("liked songs", fn)
    assert len(fn.calls) == 1 and policy.slept == []


def test_quota_exceeded_is_not_waited_for(policy):
    fn = failing(HTTPFailure(429, "quota", retry_after=1, reason="QUOTA_EXCEEDED"))
    with pytest.raises(RetryLater, match="QUOTA_EXCEEDED"):
        policy.call("x", fn)
    assert policy.slept == []


def test_5xx_and_connection_errors_back_off_exponentially(policy):
    fn = failing(HTTPFailure(503, "busy"), requests.ConnectionError("reset"), MalformedAnswer("garbled"))
    assert policy.call("x", fn) == "ok"
    first, second, third = policy.slept
    assert 0.5 <= first <= 1 and 1 <= second <= 2 and 2 <= third <= 4


def test_gives_up_after_max_attempts_with_retry_later(policy):
    fn = failing(*[HTTPFailure(502, "bad gateway")] * 10)
    with pytest.raises(RetryLater, match="still failing after 4 attempts .*HTTP 502"):
        policy.call("x", fn)
    assert len(fn.calls) == 4


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_never_retried(policy, status):
    fn = failing(HTTPFailure(status, "no"))
    with pytest.raises(ApiError) as info:
        policy.call("x", fn)
    assert info.value.status == status and len(fn.calls) == 1 and policy.slept == []


def test_other_exceptions_are_bugs_and_pass_through(policy):
    fn = failing(KeyError("bug"))
    with pytest.raises(KeyError):
        policy.call("x", fn)
    assert len(fn.calls) == 1


def test_parse_retry_after():
    assert parse_retry_after("120") == 120
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0


@pytest.mark.parametrize("service", ["Spotify", "ReccoBeats"])
def test_the_messages_name_the_service_that_answered(policy, service):
    with pytest.raises(RetryLater, match=f"x: rate limited, {service} asks to wait 3600 s"):
        policy.call("x", failing(HTTPFailure(429, "slow down", retry_after=3600)), service=service)
    with pytest.raises(RetryLater, match=f"x: {service}'s daily quota is used up"):
        policy.call("x", failing(HTTPFailure(429, "quota", reason="QUOTA_EXCEEDED")), service=service)
