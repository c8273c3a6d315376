"""Logging set-up with one rule: no token or secret ever reaches a log.

spotipy logs request headers (bearer token included) at DEBUG, so its logger
never goes below INFO, and every record passes a filter that masks anything
shaped like a credential, plus every secret the program registers.
"""

from __future__ import annotations

import logging
import re
import sys

_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]+"),
    re.compile(
        r"""(?i)(["']?\b(?:access_token|refresh_token|client_secret|password|code)["']?\s*[:=]\s*["']?)[^"'&\s,}]+"""
    ),
    re.compile(r"(postgres(?:ql)?://[^:/@\s]+:)[^@\s]+(@)"),
]
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask this exact value in every later log line (tokens, client secrets)."""
    if value and len(value) >= 6:
        _secrets.add(value)


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "***" + (m.group(2) if m.re.groups > 1 else ""), text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr unless a host (Airflow, pytest) already set handlers; redact everywhere."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler._taskcode = True
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    root.setLevel(level)
    # spotipy prints headers (the bearer token) at DEBUG; urllib3 prints URLs.
    logging.getLogger("spotipy").setLevel(max(logging.INFO, logging.getLevelName(level)))
    logging.getLogger("urllib3").setLevel(max(logging.INFO, logging.getLevelName(level)))
