"""What a call brings in and what it gets back, in Spotify's own error shapes."""

from __future__ import annotations

import dataclasses
import http.client
import json
import re
import time
from email.message import Message
from urllib.parse import parse_qsl

JSON = "application/json; charset=utf-8"


@dataclasses.dataclass
class Answer:
    """What the server sends back; status 0 means: hang up without a word."""

    status: int
    body: bytes = b""
    content_type: str = JSON
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


class Refused(Exception):
    """Raised deep inside a handler to answer at once (bad token, bad parameter)."""

    def __init__(self, answer: Answer):
        super().__init__(answer.status)
        self.answer = answer


@dataclasses.dataclass
class Call:
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
    path_params: dict[str, str] = dataclasses.field(default_factory=dict)  # {id} of /v1/playlists/{id}/items


def json_answer(status: int, data, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, json.dumps(data, ensure_ascii=False).encode("utf-8"), headers=headers or {})


def error(
    status: int, message: str | None = None, reason: str | None = None, headers: dict[str, str] | None = None
) -> Answer:
    """Spotify's error shape; a missing message stays missing (the 403 of audio features has none)."""
    body: dict = {"status": status}
    if message is not None:
        body["message"] = message
    if reason:
        body["reason"] = reason
    return json_answer(status, {"error": body}, headers)


def server_error(status: int, html: bool) -> Answer:
    """A 5xx from the API, or (html) the page a proxy in front of it sends, which is not JSON."""
    phrase = http.client.responses.get(status, "Server Error")
    if not html:
        return error(status, phrase)
    page = f"<html><head><title>{status} {phrase}</title></head><body><h1>{status} {phrase}</h1></body></html>"
    return Answer(status, page.encode(), "text/html; charset=utf-8")


def oauth_error(code: str, description: str) -> Refused:
    """The accounts service speaks OAuth, not the Web API's error shape."""
    return Refused(json_answer(400, {"error": code, "error_description": description}))


def bad_request(message: str) -> Refused:
    return Refused(error(400, message))


# -- reading parameters -----------------------------------------------------------


def int_param(query: dict[str, str], name: str, default: int, low: int, high: int | None = None) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]+", raw) or int(raw) < low or (high is not None and int(raw) > high):
        raise bad_request(f"Invalid {name}")
    return int(raw)


def ids_param(query: dict[str, str], maximum: int) -> list[str]:
    raw = query.get("ids")
    if not raw:
        raise bad_request("Missing required parameter: ids")
    ids = raw.split(",")
    if len(ids) > maximum:
        raise bad_request("Too many ids requested")
    return ids


def form(call: Call) -> dict[str, str]:
    """The token endpoint reads form bodies only; anything else looks like an empty form."""
    if call.headers.get_content_type() != "application/x-www-form-urlencoded":
        return {}
    return dict(parse_qsl(call.body.decode("utf-8", "replace"), keep_blank_values=True))
