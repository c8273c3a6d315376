"""The promotion gate against a real PostgreSQL and real trainings: noise cannot pass it, a better model does.

Each decision is a paired bootstrap of the challenger's macro-F1 minus the
reference's on the challenger's test songs; the test reads the interval both
in the decision's text and in the stored evidence.
"""

import pytest

from emulator import Library, generate
from emulator.database import load_into_database
from taskcode import promotion, queries, registry, train
from taskcode.config import load_settings
from tests.integration import test_model

pytestmark = pytest.mark.slow

QUICK = test_model.QUICK + "  min_f1_gain: 0\n"  # any gain counts: only the bootstrap stands in the way
EVIDENCE = {
    "reference",
    "reference_f1",
    "challenger_f1",
    "difference",
    "low",
    "high",
    "probability",
    "confidence",
    "resamples",
    "min_gain",
}


def _settings(write_config, text=""):
    return load_settings(write_config(QUICK + text))


def _interval(decision):
    e = decision.evidence
    return f"{e['difference']:+.3f} (95% interval {e['low']:+.3f} to {e['high']:+.3f})"


def test_the_first_model_must_beat_the_majority_baseline_with_the_same_bootstrap(conn, write_config):
    settings = _settings(write_config)
    load_into_database(conn, generate(people=2, tracks=150, seed=21))
    first = train.train(settings, conn)
    decision = promotion.evaluate_and_promote(settings, conn, first.version)
    assert decision.promoted and decision.reference == promotion.MAJORITY, decision.text
    evidence = decision.evidence
    assert set(evidence) == EVIDENCE and evidence["resamples"] == 2000 and evidence["confidence"] == 0.95
    # The baseline guessed on these songs scores exactly the majority F1 stored at training.
    assert evidence["reference_f1"] == pytest.approx(first.metrics["majority_f1"])
    assert evidence["challenger_f1"] == pytest.approx(first.metrics["f1"])
    assert evidence["probability"] >= 0.95 and evidence["low"] > 0
    assert _interval(decision) in decision.text and "better with probability" in decision.text
    assert registry.champion(conn).evidence == evidence
    assert decision.as_dict()["evidence"] == evidence  # the run's summary

    listed = registry.format_versions(registry.list_versions(conn))
    assert "95% interval" in listed and f"{evidence['low']:+.3f}..{evidence['high']:+.3f}" in listed
    row = queries.model_versions(conn).iloc[0]
    assert (row["gain"], row["gain_low"], row["gain_high"]) == pytest.approx(
        (evidence["difference"], evidence["low"], evidence["high"])
    )
    assert row["judged_against"] == promotion.MAJORITY


def test_forced_retrains_on_unchanged_data_never_replace_the_champion(conn, write_config):
    """The project's own network (config defaults), retrained with other seeds on the same songs."""
    load_into_database(conn, generate(people=2, tracks=300, seed=22))
    defaults = "model:\n  min_f1_gain: 0\n"
    champion = train.train(load_settings(write_config(defaults)), conn)
    assert promotion.evaluate_and_promote(load_settings(write_config(defaults)), conn, champion.version).promoted

    verdicts = []
    for seed in (1, 2, 3):
        settings = load_settings(write_config(defaults + f"  seed: {seed}\n"))
        retrain = train.train(settings, conn, force=True)
        verdicts.append(promotion.evaluate_and_promote(settings, conn, retrain.version))
    print("\n" + "\n".join(v.text for v in verdicts))
    for verdict in verdicts:
        assert verdict.reference == f"champion version {champion.version}"
        assert not verdict.promoted, verdict.text
        assert _interval(verdict) in verdict.text and verdict.evidence["probability"] < 0.95
        assert registry.get_version(conn, verdict.version).status == "rejected"
    assert registry.champion(conn).version == champion.version


def test_a_clearly_better_model_is_promoted_with_its_interval(conn, write_config):
    library = generate(people=2, tracks=300, seed=23)
    early = {p.name: {like.track_id for like in library.likes_of(p.name)[:200]} for p in library.people}
    fewer = Library(
        library.seed,
        library.people,
        library.tracks,
        [like for like in library.likes if like.track_id in early[like.person]],
    )
    load_into_database(conn, fewer)
    audio_only = _settings(write_config, "  signals: {artists: false}\n")
    champion = train.train(audio_only, conn)
    assert promotion.evaluate_and_promote(audio_only, conn, champion.version).promoted

    load_into_database(conn, library)
    settings = _settings(write_config)
    challenger = train.train(settings, conn)
    decision = promotion.evaluate_and_promote(settings, conn, challenger.version)
    print(f"\n{decision.text}")
    assert decision.promoted and decision.reference == f"champion version {champion.version}", decision.text
    evidence = registry.get_version(conn, challenger.version).evidence
    assert evidence == decision.evidence and evidence["low"] > 0 and evidence["probability"] >= 0.95
    assert decision.text.startswith("promoted: F1 ") and _interval(decision) in decision.text
    assert registry.champion(conn).version == challenger.version
