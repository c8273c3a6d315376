"""The request log: tests and benchmarks count calls with it, so it must never hold a secret."""

from __future__ import annotations

import threading

from emulator.messages import Answer, Call

_HIDDEN_PARAMS = {"code", "refresh_token", "access_token", "client_secret"}


class RequestLog:
    """Calls to the services, oldest first; admin calls are not logged, tokens never are."""

    def __init__(self, lock: threading.RLock):
        self._lock = lock
        self._entries: list[dict] = []

    def record(self, call: Call, answer: Answer) -> None:
        query = {key: "<hidden>" if key in _HIDDEN_PARAMS else value for key, value in call.query.items()}
        with self._lock:
            self._entries.append(
                {
                    "time": call.time,
                    "method": call.method,
                    "path": call.path,
                    "query": query,
                    "status": answer.status,
                    "endpoint": call.endpoint,
                    "person": call.person,
                }
            )

    def entries(self, endpoint: str | None = None) -> list[dict]:
        with self._lock:
            return [dict(entry) for entry in self._entries if endpoint in (None, entry["endpoint"])]

    def clear(self) -> int:
        with self._lock:
            count, self._entries = len(self._entries), []
            return count
