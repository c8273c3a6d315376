"""One person's token expires: in the nightly DAG only their sync task fails, the rest of the night runs."""

from __future__ import annotations

import pytest

from taskcode import db
from taskcode.authorize import authorize
from tests.dags.test_nightly_run import current_status, run

pytestmark = pytest.mark.slow


def test_an_expired_token_fails_only_that_persons_sync(deployment):
    settings, emulator = deployment.settings, deployment.emulator
    assert run()[0] == "success"  # a first night for both
    emulator.advance_clock(days=100)
    with db.connection(settings) as conn:  # bob logs in again: his lifetime starts 100 days after alice's
        authorize(settings, conn, "bob", refresh_token=emulator.authorize_again("bob"))
    emulator.advance_clock(days=83)  # alice: past her token's lifetime; bob: halfway through his
    for _ in range(3):
        emulator.add_like("bob")
    state, tasks = run()
    assert tasks["sync[alice]"][0] == "failed" and tasks["sync[bob]"][0] == "success"
    assert [tasks[name][0] for name in ("features", "train", "evaluate_and_promote", "embed")] == ["success"] * 4
    report = current_status(settings)
    assert report["users"]["alice"]["needs_authorize"] and not report["users"]["bob"]["needs_authorize"]
    assert report["users"]["bob"]["likes"] == 123 and report["users"]["alice"]["likes"] == 120
    assert report["map"]["points"] == report["tracks_with_features"]  # bob's new songs are on the map
