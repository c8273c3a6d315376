"""No token or secret ever reaches a log line."""

import io
import logging

from taskcode.log import RedactingFilter, redact, register_secret, setup_logging


def test_redact_masks_credential_shapes():
    text = (
        "Authorization: Bearer BQDabc.def-123 and Basic dXNlcjpwYXNz "
        '{"access_token": "AT-1", "refresh_token":"RT-2"} '
        "grant_type=refresh_token&refresh_token=RT-3&code=CODE4 "
        "postgresql://taskcode:pw123@127.0.0.1:5/db"
    )
    clean = redact(text)
    for secret in ("BQDabc.def-123", "dXNlcjpwYXNz", "AT-1", "RT-2", "RT-3", "CODE4", "pw123"):
        assert secret not in clean
    assert "postgresql://taskcode:***@127.0.0.1:5/db" in clean


def test_registered_secret_is_masked_in_log_records():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("taskcode.test.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    register_secret("my-very-secret-value")
    logger.debug("client secret is %s", "my-very-secret-value")
    logger.removeHandler(handler)
    assert stream.getvalue() == "client secret is ***\n"


def test_spotipy_debug_logging_stays_off():
    setup_logging("DEBUG")
    assert not logging.getLogger("spotipy").isEnabledFor(logging.DEBUG)
