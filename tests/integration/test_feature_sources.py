"""The feature chain: each source's failure ends its turn, the next source is asked, the summary says so.

Every fall-through is driven through the emulator over HTTP: an authorization
failure, a 4xx, a burst of 5xx longer than the retries, a `Retry-After` over
the cap and a `QUOTA_EXCEEDED`, for ReccoBeats and for Spotify's
`/audio-features` (asked only by an extended-quota app that configures it).
The catalog file is local: none of these can happen to it, and it is asked
after either of them.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest

from taskcode import db, features, sync
from taskcode.errors import RetryLater
from tests.conftest import EXTENDED_QUOTA
from tests.integration.conftest import with_sources

# fault name -> (switch it on for an endpoint, does waiting cure it?)
FAULTS = {
    "auth failure": (lambda emu, endpoint: emu.refuse(endpoint, status=401, count=1000), False),
    "4xx": (lambda emu, endpoint: emu.refuse(endpoint, status=400, count=1000), False),
    "5xx burst": (lambda emu, endpoint: emu.fail(endpoint, status=503, count=6), True),  # all 6 attempts
    "long Retry-After": (lambda emu, endpoint: emu.rate_limit(endpoint, retry_after=3600, times=1), True),
    "QUOTA_EXCEEDED": (lambda emu, endpoint: emu.rate_limit(endpoint, reason="QUOTA_EXCEEDED", times=1), True),
}
SERVICE = {"spotify": "Spotify", "reccobeats": "ReccoBeats"}
ENDPOINT = {"spotify": "audio_features", "reccobeats": "reccobeats"}


@pytest.fixture
def likes_stored(authorized):
    """Everyone's likes stored, no features yet, the request log empty."""
    sync.run(authorized.settings, authorized.conn, with_features=False)
    authorized.emulator.clear_requests()
    return authorized


def known_to(library, *sources) -> set[str]:
    return {t for t in library.owners() if set(library.tracks[t]["known_by"]) & set(sources)}


def stored(conn, query: str) -> set:
    with db.transaction(conn) as cur:
        cur.execute(query)
        return {row[0] for row in cur.fetchall()}


def asked_ids(emulator, endpoint) -> list[str]:
    return [i for r in emulator.requests(endpoint) for i in r["query"]["ids"].split(",")]


def last_run(conn) -> tuple[str, dict]:
    with db.transaction(conn) as cur:
        cur.execute("SELECT status, summary FROM runs WHERE kind = 'features' ORDER BY run_id DESC LIMIT 1")
        return cur.fetchone()


def run_stage(settings, conn, transient: bool) -> tuple[features.FeatureSummary, str | None]:
    """The stage as the nightly task runs it: its summary, and its one line when it asks to run again."""
    if not transient:
        return features.run(settings, conn), None
    with pytest.raises(features.Incomplete) as raised:
        features.run(settings, conn)
    assert isinstance(raised.value, RetryLater) and raised.value.exit_code == 75
    return raised.value.summary, str(raised.value)


def assert_falls_through(setup, source: str, fault: str, later: list[str], caplog) -> None:
    settings, conn, emulator = setup.settings, setup.conn, setup.emulator
    library = emulator.library
    switch_on, transient = FAULTS[fault]
    switch_on(emulator, ENDPOINT[source])
    with caplog.at_level(logging.WARNING, logger="taskcode.features"):
        summary, line = run_stage(settings, conn, transient)

    # The source's turn ended at its first call, with a message naming the service that answered.
    outcome = summary.sources[source]
    assert outcome.startswith("failed after 0 found: ") and SERVICE[source] in outcome, outcome
    assert summary.found[source] == 0 and summary.unavailable[source] == outcome.removeprefix("failed after 0 found: ")
    # The next sources were asked, and what they found is stored.
    assert all(summary.sources[name].startswith("ok: ") for name in later), summary.sources
    found_later = known_to(library, *later)
    assert stored(conn, "SELECT track_id FROM audio_features") == found_later
    assert sum(summary.found.values()) == len(found_later)
    # What no later source knew waits for the failed one: no misses recorded, one line says so.
    waiting = set(library.owners()) - found_later
    assert waiting and summary.waiting == len(waiting) and summary.unknown == 0
    assert stored(conn, "SELECT track_id FROM feature_misses") == set()
    status, recorded = last_run(conn)
    assert recorded["sources"] == summary.sources and recorded["waiting"] == len(waiting)
    said = [
        r.message for r in caplog.records if r.message.startswith("features: ") and "wait for the next run" in r.message
    ]
    if transient:  # the scheduler runs the stage again soon: the run failed, with the line as its error
        assert status == "failed" and recorded["error"] == line and not said
        assert f"kept the {len(found_later)} features found so far, {len(waiting)} tracks wait" in line
    else:  # asking again at once would get the same answer: the stage succeeds, the line is logged
        assert status == "succeeded" and len(said) == 1

    # The next run asks the failed source about the waiting tracks only, and is complete.
    emulator.clear_faults()
    emulator.clear_requests()
    again = features.run(settings, conn)
    assert sorted(asked_ids(emulator, ENDPOINT[source])) == sorted(waiting)
    assert again.waiting == 0 and again.sources[source].startswith("ok: ")
    known = known_to(library, *settings.features.sources)
    assert stored(conn, "SELECT track_id FROM audio_features") == known
    assert stored(conn, "SELECT track_id FROM feature_misses") == set(library.owners()) - known


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_failing_reccobeats_hands_over_to_the_catalog(likes_stored, fault, caplog):
    assert likes_stored.settings.features.sources == ("reccobeats", "csv")  # the default order
    assert_falls_through(likes_stored, "reccobeats", fault, ["csv"], caplog)
    assert likes_stored.emulator.requests("audio_features") == []


@EXTENDED_QUOTA
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_failing_spotify_hands_over_to_reccobeats_then_the_catalog(likes_stored, fault, caplog):
    setup = dataclasses.replace(likes_stored, settings=with_sources(likes_stored.settings))
    assert_falls_through(setup, "spotify", fault, ["reccobeats", "csv"], caplog)


@EXTENDED_QUOTA
def test_spotify_asks_with_the_next_person_whose_token_works(likes_stored, sample_library):
    settings, conn, emulator = with_sources(likes_stored.settings), likes_stored.conn, likes_stored.emulator
    emulator.revoke("alice")  # the alphabetically first person: once the only token ever used
    emulator.expire_access_tokens()
    summary = features.run(settings, conn)
    assert summary.found["spotify"] == len(known_to(sample_library, "spotify"))
    outcome = summary.sources["spotify"]
    assert outcome.startswith(f"ok: {summary.found['spotify']} found (") and "authorize --user alice" in outcome
    answered = [r for r in emulator.requests("audio_features") if r["status"] == 200]
    assert len(answered) == -(-len(sample_library.owners()) // 100)  # bob's token, 100 ids a call


@EXTENDED_QUOTA
def test_when_nobodys_token_works_spotify_ends_and_reccobeats_is_asked(likes_stored, sample_library, caplog):
    settings, conn, emulator = with_sources(likes_stored.settings), likes_stored.conn, likes_stored.emulator
    for person in sample_library.people:
        emulator.revoke(person.name)
    emulator.expire_access_tokens()
    with caplog.at_level(logging.WARNING, logger="taskcode.features"):
        summary = features.run(settings, conn)  # no exception: no single person can stop the stage
    outcome = summary.sources["spotify"]
    assert outcome.startswith("failed after 0 found: Spotify audio features: nobody's Spotify authorization works (")
    assert "authorize --user alice" in outcome and "authorize --user bob" in outcome
    assert summary.sources["reccobeats"].startswith("ok: ") and summary.sources["csv"].startswith("ok: ")
    assert stored(conn, "SELECT track_id FROM audio_features") == known_to(sample_library, "reccobeats", "csv")


def test_every_source_failing_keeps_what_earlier_batches_stored_and_says_so(likes_stored, sample_library):
    settings = with_sources(likes_stored.settings, ["reccobeats"])
    conn, emulator = likes_stored.conn, likes_stored.emulator
    emulator.rate_limit("reccobeats", every=2, retry_after=3600, times=1)  # the second batch asks to wait an hour
    with pytest.raises(features.Incomplete) as raised:
        features.run(settings, conn)
    first_batch = asked_ids(emulator, "reccobeats")[:40]
    kept = {t for t in first_batch if "reccobeats" in sample_library.tracks[t]["known_by"]}
    assert kept and stored(conn, "SELECT track_id FROM audio_features") == kept
    line = str(raised.value)
    assert line.startswith("features: every feature source failed (ReccoBeats audio features: rate limited, ")
    assert "ReccoBeats asks to wait 3600 s" in line and f"kept the {len(kept)} features found so far" in line
    assert "\n" not in line
    outcome = raised.value.summary.sources["reccobeats"]
    assert outcome.startswith(f"failed after {len(kept)} found: ReccoBeats audio features: rate limited")
    assert last_run(conn) == ("failed", {**raised.value.summary.as_dict(), "error": line})


def test_the_default_order_never_asks_spotify(likes_stored, sample_library):
    settings, conn, emulator = likes_stored.settings, likes_stored.conn, likes_stored.emulator
    summary = features.run(settings, conn)
    assert list(summary.sources) == ["reccobeats", "csv"] and emulator.requests("audio_features") == []
    assert summary.found == {
        "reccobeats": len(known_to(sample_library, "reccobeats")),
        "csv": len(known_to(sample_library, "csv") - known_to(sample_library, "reccobeats")),
    }
    assert summary.sources["reccobeats"] == f"ok: {summary.found['reccobeats']} found"


@EXTENDED_QUOTA
def test_an_extended_quota_app_gets_its_features_from_spotify_100_ids_a_call(likes_stored, sample_library):
    settings, conn, emulator = with_sources(likes_stored.settings), likes_stored.conn, likes_stored.emulator
    summary = features.run(settings, conn)
    owners = sample_library.owners()
    assert summary.found["spotify"] == len(known_to(sample_library, "spotify"))
    assert len(emulator.requests("audio_features")) == -(-len(owners) // 100)
    assert sorted(asked_ids(emulator, "reccobeats")) == sorted(set(owners) - known_to(sample_library, "spotify"))
