"""The admin endpoints: the demo and the benchmarks drive the emulator from another process.

Loopback callers only, never logged, JSON in and out. Each body field is one
keyword argument of the Emulator method of the same name; unknown or missing
fields are a 400, as a typo must not pass for a fault switched on.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from emulator.messages import Answer, Call, error, json_answer
from taskcode.errors import DataError

if TYPE_CHECKING:
    from emulator.service import Emulator


@dataclasses.dataclass(frozen=True)
class FaultAction:
    """One `action` of POST /admin/faults: its fields and the Emulator method it calls."""

    required: tuple[str, ...]
    optional: tuple[str, ...]
    apply: Callable[[Emulator, dict], None]


FAULT_ACTIONS: dict[str, FaultAction] = {
    "rate_limit": FaultAction(
        ("endpoint",), ("every", "retry_after", "reason", "times"), lambda emu, args: emu.rate_limit(**args)
    ),
    "fail": FaultAction(("endpoint",), ("status", "count", "html"), lambda emu, args: emu.fail(**args)),
    "refuse": FaultAction(("endpoint",), ("status", "count"), lambda emu, args: emu.refuse(**args)),
    "malformed": FaultAction(("endpoint",), ("count",), lambda emu, args: emu.malformed(**args)),
    "reset_connections": FaultAction(("endpoint",), ("count",), lambda emu, args: emu.reset_connections(**args)),
    "latency": FaultAction(("endpoint", "seconds"), (), lambda emu, args: emu.latency(**args)),
    "deprecate_audio_features": FaultAction((), ("on",), lambda emu, args: emu.deprecate_audio_features(**args)),
    "revoke": FaultAction(("name",), (), lambda emu, args: emu.revoke(**args)),
    "unregister": FaultAction(("name",), (), lambda emu, args: emu.unregister(**args)),
    "expire_access_tokens": FaultAction((), (), lambda emu, args: emu.expire_access_tokens()),
}


def people(emu: Emulator, call: Call, data: dict) -> list[dict]:
    return [
        {"name": p.name, "user_id": p.user_id, "refresh_token": emu.refresh_token(p.name)} for p in emu.library.people
    ]


def client(emu: Emulator, call: Call, data: dict) -> dict:
    return {"client_id": emu.client_id}  # never the secret


def clock(emu: Emulator, call: Call, data: dict) -> dict:
    return {"now": emu.now()}


def advance_clock(emu: Emulator, call: Call, data: dict) -> dict:
    """{"days": N} and/or {"seconds": N}: tokens age as if that time had passed."""
    unknown = sorted(set(data) - {"days", "seconds"})
    if unknown or not data:
        raise DataError("advance the clock by 'days' and/or 'seconds'")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in data.values()):
        raise DataError("'days' and 'seconds' must be numbers")
    return {"now": emu.advance_clock(**data)}


def request_log(emu: Emulator, call: Call, data: dict) -> list[dict]:
    return emu.requests(call.query.get("endpoint"))


def clear_request_log(emu: Emulator, call: Call, data: dict) -> dict:
    return {"cleared": emu.clear_requests()}


def set_fault(emu: Emulator, call: Call, data: dict) -> dict:
    """{"action": NAME, ...the keyword arguments of the Emulator method of that name}."""
    data = dict(data)
    name = data.pop("action", None)
    action = FAULT_ACTIONS.get(name) if isinstance(name, str) else None
    if action is None:
        raise DataError(f"action must be one of {', '.join(FAULT_ACTIONS)}")
    unknown = sorted(set(data) - set(action.required) - set(action.optional))
    if unknown:
        raise DataError(
            f"{name}: unknown field(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(action.required + action.optional) or 'none'}"
        )
    _fields(data, *action.required)
    action.apply(emu, data)
    return {"ok": True}


def clear_faults(emu: Emulator, call: Call, data: dict) -> dict:
    emu.clear_faults()
    return {"cleared": True}


def add_likes(emu: Emulator, call: Call, data: dict) -> dict:
    """One like (track_id, or a new track), `new` new tracks, or one `quirk` item."""
    (person,) = _fields(data, "person")
    added_at = data.get("added_at")
    if "quirk" in data:
        return {"track_ids": [emu.add_quirk(person, data["quirk"], added_at)]}
    if "new" in data:
        if not isinstance(data["new"], int) or data["new"] < 1:
            raise DataError("'new' must be a positive integer")
        return {"track_ids": [emu.add_like(person, None, added_at) for _ in range(data["new"])]}
    return {"track_ids": [emu.add_like(person, data.get("track_id"), added_at)]}


def remove_like(emu: Emulator, call: Call, data: dict) -> dict:
    return {"removed": emu.remove_like(*_fields(data, "person", "track_id"))}


def playlists(emu: Emulator, call: Call, data: dict) -> dict:
    """?person=NAME for one person's library, ?id=ID for one playlist (deleted or not); else everyone's."""
    if "id" in call.query:
        return emu.playlist(call.query["id"])
    return emu.playlists_of(call.query.get("person"))


def delete_playlist(emu: Emulator, call: Call, data: dict) -> dict:
    """{"id": PLAYLIST_ID}: as if its owner deleted it in Spotify's app (it leaves their library)."""
    (playlist_id,) = _fields(data, "id")
    return {"deleted": emu.delete_playlist(playlist_id)}


ROUTES: dict[tuple[str, str], Callable[[Emulator, Call, dict], object]] = {
    ("GET", "/admin/people"): people,
    ("GET", "/admin/client"): client,
    ("GET", "/admin/clock"): clock,
    ("POST", "/admin/clock"): advance_clock,
    ("GET", "/admin/requests"): request_log,
    ("DELETE", "/admin/requests"): clear_request_log,
    ("POST", "/admin/faults"): set_fault,
    ("DELETE", "/admin/faults"): clear_faults,
    ("POST", "/admin/likes"): add_likes,
    ("DELETE", "/admin/likes"): remove_like,
    ("GET", "/admin/playlists"): playlists,
    ("DELETE", "/admin/playlists"): delete_playlist,
}


def answer(emu: Emulator, call: Call) -> Answer:
    if not ipaddress.ip_address(call.client_ip).is_loopback:
        return error(403, "admin endpoints answer loopback callers only")
    route = ROUTES.get((call.method, call.path))
    if route is None:
        return error(404, "Service not found")
    try:
        data = json.loads(call.body) if call.body else {}
        if not isinstance(data, dict):
            raise DataError("the body must be a JSON object")
        return json_answer(200, route(emu, call, data))
    except (DataError, ValueError) as exc:  # ValueError: bad JSON
        return error(400, str(exc))


def _fields(data: dict, *names: str) -> list:
    missing = [name for name in names if name not in data]
    if missing:
        raise DataError(f"missing field(s): {', '.join(missing)}")
    return [data[name] for name in names]
