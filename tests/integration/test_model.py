"""The model stage against a real PostgreSQL: train, gate, registry, predict, discover.

Trainings are real (TensorFlow on CPU). The full-size ones run on the sample
library the issue names (2 people x 1000 liked songs); the others use small
libraries and few epochs to keep the module fast.
"""

import io
import json
import zipfile

import numpy as np
import psycopg2
import pytest

from emulator import generate
from emulator.database import load_into_database
from taskcode import dataset, db, promotion, registry, train
from taskcode.config import load_settings
from taskcode.errors import DataError, TaskcodeError
from taskcode.model import hidden_model, model_inputs, probabilities
from taskcode.predict import discover, predict

pytestmark = pytest.mark.slow

# Small and quick, for tests whose assertions do not depend on model quality.
QUICK = """
model:
  hidden_layers: [8, 4]
  epochs: 8
  patience: 2
  min_tracks_per_person: 10
"""
WEAK = """
model:
  hidden_layers: [1]
  epochs: 1
"""
# Clearly better than WEAK, for tests that need a promotion over it: the gate asks for evidence, not luck.
BETTER = """
model:
  hidden_layers: [16, 8]
  epochs: 30
  patience: 3
  min_tracks_per_person: 10
"""
METRIC_KEYS = {
    "f1",
    "f1_per_person",
    "precision",
    "recall",
    "roc_auc",
    "roc_curve",
    "confusion",
    "accuracy",
    "majority_f1",
    "counts",
    "epochs",
    "batch_size",
    "training_seconds",
    "curve",
    "best_epoch",
    "importance",
}


def _settings(write_config, text=""):
    return load_settings(write_config(text))


def _rows(conn, sql, params=()):
    with db.transaction(conn) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _statuses(conn):
    return dict(_rows(conn, "SELECT version, status FROM model_versions ORDER BY version"))


def _champion(conn):
    """The champion as every reader gets it (the registry's one source)."""
    current = registry.champion(conn)
    return current.version if current else None


def _without_time(metrics):
    return {key: value for key, value in metrics.items() if key != "training_seconds"}


# -- the acceptance run ------------------------------------------------------------


def test_first_model_is_promoted_a_weak_one_rejected_and_unchanged_data_skipped(conn, settings, write_config):
    load_into_database(conn, generate(people=2, tracks=1000, seed=7))

    first = train.train(settings, conn)
    decision = promotion.evaluate_and_promote(settings, conn, first.version)
    metrics, baselines = first.metrics, first.baselines
    print(
        f"\n2x1000: keras F1 {metrics['f1']:.3f} in {metrics['training_seconds']:.1f} s, "
        f"logistic regression {baselines['logistic_regression']['f1']:.3f}, "
        f"sklearn MLP {baselines['sklearn_mlp']['f1']:.3f}, majority {metrics['majority_f1']:.3f}"
    )
    assert metrics["f1"] >= 0.75
    assert metrics["f1"] >= baselines["logistic_regression"]["f1"] - 0.02
    assert decision.promoted and decision.reference == "the majority-class baseline"
    assert _statuses(conn) == {first.version: "champion"} and _champion(conn) == first.version

    stored = registry.champion(conn)
    assert set(stored.metrics) == METRIC_KEYS
    assert stored.metrics["f1"] == pytest.approx(metrics["f1"])
    assert set(stored.baselines) == {"logistic_regression", "sklearn_mlp", "audio_only_mlp"}
    for scores in stored.baselines.values():
        assert {"f1", "roc_auc", "accuracy", "f1_per_person"} <= set(scores)
    counts = stored.metrics["counts"]
    assert counts["shared"] > 0 and set(counts["per_person"]) == {"alice", "bob"}
    assert sum(map(sum, stored.metrics["confusion"]["matrix"])) == counts["test"]
    assert sum(counts["per_person"].values()) == counts["train"] + counts["validation"] + counts["test"]
    assert 1 <= stored.metrics["epochs"] <= settings.model.epochs
    assert stored.decision == decision.text and "promoted" in stored.decision

    # Nothing changed since the champion: the nightly run skips, and says so in `runs`.
    skipped = train.train(settings, conn)
    assert skipped.version is None and "unchanged" in skipped.message
    assert _rows(conn, "SELECT status FROM runs WHERE kind = 'train' ORDER BY run_id") == [("succeeded",), ("skipped",)]

    weak_settings = _settings(write_config, WEAK)
    weak = train.train(weak_settings, conn, force=True)
    verdict = promotion.evaluate_and_promote(weak_settings, conn, weak.version)
    assert not verdict.promoted and verdict.reference == f"champion version {first.version}"
    # The champion was measured again on the challenger's test set: same songs, same F1.
    assert verdict.reference_f1 == pytest.approx(metrics["f1"])
    assert _statuses(conn) == {first.version: "champion", weak.version: "rejected"}
    assert _champion(conn) == first.version
    with pytest.raises(TaskcodeError, match="first champion: there is no earlier champion"):
        promotion.rollback(conn)
    with pytest.raises(TaskcodeError, match="is rejected, not a candidate"):
        promotion.evaluate_and_promote(weak_settings, conn, weak.version)


def test_rollback_walks_back_one_promotion_at_a_time(conn, write_config):
    load_into_database(conn, generate(people=2, tracks=300, seed=11))
    weak_settings = _settings(write_config, WEAK + "  min_tracks_per_person: 10\n")
    better_settings = _settings(write_config, BETTER)

    versions = []
    for settings in (weak_settings, better_settings):
        result = train.train(settings, conn, force=True)
        assert promotion.evaluate_and_promote(settings, conn, result.version).promoted
        versions.append(result.version)
    weak, better = versions
    assert _statuses(conn) == {weak: "retired", better: "champion"}

    done = promotion.rollback(conn)
    assert (done.retired, done.champion) == (better, weak)
    assert _statuses(conn) == {weak: "champion", better: "retired"} and _champion(conn) == weak
    with pytest.raises(TaskcodeError, match="no earlier champion"):
        promotion.rollback(conn)
    assert _champion(conn) == weak


def test_three_people_train_a_softmax_model_and_a_new_person_resets_the_reference(conn, write_config):
    settings = _settings(write_config, QUICK)
    load_into_database(conn, generate(people=2, tracks=250, seed=5))
    two = train.train(settings, conn)
    assert promotion.evaluate_and_promote(settings, conn, two.version).promoted

    load_into_database(conn, generate(people=3, tracks=250, seed=6))  # carol arrives
    three = train.train(settings, conn)
    model = registry.load_model(conn, three.version)
    output = model.get_layer("output")
    assert output.units == 3 and output.activation.__name__ == "softmax"
    assert set(three.metrics["f1_per_person"]) == {"alice", "bob", "carol"}
    assert len(three.metrics["confusion"]["matrix"]) == 3
    assert set(three.metrics["roc_curve"]) == {"alice", "bob", "carol"}
    assert three.metrics["f1"] > three.metrics["majority_f1"]

    decision = promotion.evaluate_and_promote(settings, conn, three.version)
    # The two-person champion cannot score a three-person test set: the majority baseline is the bar.
    assert decision.reference == "the majority-class baseline"
    assert "cannot score today's test set" in decision.text
    assert decision.promoted and _champion(conn) == three.version


# -- data ----------------------------------------------------------------------------------


def test_a_tracks_split_never_changes_when_new_songs_arrive(conn, settings):
    lib = generate(people=2, tracks=300, seed=4)
    load_into_database(conn, lib)
    before = dataset.load(settings, conn)

    rng = np.random.default_rng(99)
    for _ in range(150):  # a few nights of new likes
        for person in ("alice", "bob"):
            track = lib.new_track(person, rng)
            lib.add_like(person, track["id"])
    load_into_database(conn, lib)
    after = dataset.load(settings, conn)

    assert len(after.labelled) > len(before.labelled)
    old = before.labelled["split"]
    assert (after.labelled.loc[old.index, "split"] == old).all()
    assert after.fingerprint != before.fingerprint
    # Shared songs are never labelled; labelled songs have exactly one owner.
    assert not set(after.shared.index) & set(after.labelled.index)
    assert (after.shared["owners"].apply(len) >= 2).all()


def test_fingerprint_covers_data_and_config(conn, settings, write_config):
    load_into_database(conn, generate(people=2, tracks=100, seed=4))
    base = dataset.load(settings, conn).fingerprint
    assert dataset.load(settings, conn).fingerprint == base
    assert dataset.load(_settings(write_config, "model:\n  dropout: 0.2\n"), conn).fingerprint != base
    with db.transaction(conn) as cur:
        cur.execute("""UPDATE audio_features SET tempo = tempo + 1
                        WHERE track_id = (SELECT track_id FROM likes ORDER BY track_id LIMIT 1)""")
    assert dataset.load(settings, conn).fingerprint != base


def test_feature_frame_takes_duration_from_the_track_when_the_source_lacks_it(conn):
    lib = generate(people=2, tracks=20, seed=4)
    load_into_database(conn, lib)
    track_id = next(iter(lib.tracks))
    with db.transaction(conn) as cur:
        cur.execute(
            "UPDATE audio_features SET duration_ms = NULL, time_signature = NULL WHERE track_id = %s", (track_id,)
        )
    frame = dataset.feature_frame(conn, [track_id, "0" * 22])
    assert list(frame.index) == [track_id]
    row = frame.loc[track_id]
    assert row["duration_ms"] == lib.tracks[track_id]["duration_ms"]
    assert np.isnan(row["time_signature"])
    assert row["artist_count"] == len(lib.tracks[track_id]["artists"])
    assert row["release_year"] == int(lib.tracks[track_id]["album"]["release_date"][:4])


def test_too_little_data_stops_with_one_line_naming_the_person(conn, settings, write_config):
    with pytest.raises(DataError, match="at least 2 people"):
        train.train(settings, conn)
    load_into_database(conn, generate(people=2, tracks=15, seed=4))
    with pytest.raises(DataError) as caught:
        train.train(settings, conn)  # min_tracks_per_person defaults to 20
    message = str(caught.value)
    assert message.startswith("alice has ") and "model.min_tracks_per_person" in message
    assert "\n" not in message
    assert _rows(conn, "SELECT status FROM runs WHERE kind = 'train' ORDER BY run_id") == [("failed",), ("failed",)]
    assert _rows(conn, "SELECT count(*) FROM model_versions") == [(0,)]


def test_someone_registered_but_not_synced_yet_does_not_block_training(conn, write_config):
    from taskcode import store

    settings = _settings(write_config, QUICK)
    load_into_database(conn, generate(people=2, tracks=120, seed=4))
    with db.transaction(conn) as cur:
        store.ensure_person(cur, "carol")
    result = train.train(settings, conn)
    assert registry.get_version(conn, result.version).people == ("alice", "bob")


def test_unchanged_data_after_a_rejection_is_not_trained_again(conn, write_config):
    settings = _settings(write_config, QUICK)
    load_into_database(conn, generate(people=2, tracks=120, seed=4))
    first = train.train(settings, conn)
    promotion.evaluate_and_promote(settings, conn, first.version)
    load_into_database(conn, generate(people=2, tracks=130, seed=4))  # tonight: more songs
    second = train.train(settings, conn)
    demanding = _settings(write_config, QUICK + "  min_f1_gain: 1.0\n")
    assert not promotion.evaluate_and_promote(demanding, conn, second.version).promoted
    skipped = train.train(settings, conn)  # the next night, nothing new
    assert skipped.version is None and f"version {second.version} (rejected)" in skipped.message


# -- reproducibility and the artifact --------------------------------------------------------


def test_same_data_config_and_seed_give_the_same_metrics(conn, write_config):
    settings = _settings(write_config, QUICK)
    load_into_database(conn, generate(people=2, tracks=250, seed=8))
    first = train.train(settings, conn, force=True)
    again = train.train(settings, conn, force=True)
    assert _without_time(again.metrics) == _without_time(first.metrics)
    assert again.baselines["logistic_regression"]["f1"] == first.baselines["logistic_regression"]["f1"]
    other_seed = train.train(_settings(write_config, QUICK + "  seed: 7\n"), conn, force=True)
    assert other_seed.metrics["roc_curve"] != first.metrics["roc_curve"]


def test_artifact_is_a_safe_keras_file_that_predicts_from_raw_rows(conn, write_config):
    settings = _settings(
        write_config,
        QUICK
        + """
features:
  columns: {danceability: standardize, energy: standardize, speechiness: log, key: one_hot,
            mode: one_hot, time_signature: one_hot, explicit: one_hot, release_year: standardize,
            artist_count: none, duration_ms: log}
""",
    )
    load_into_database(conn, generate(people=2, tracks=250, seed=9))
    result = train.train(settings, conn)
    decision = promotion.evaluate_and_promote(settings, conn, result.version)
    assert decision.promoted, decision.text

    artifact = bytes(_rows(conn, "SELECT artifact FROM model_versions WHERE version = %s", (result.version,))[0][0])
    names = zipfile.ZipFile(io.BytesIO(artifact)).namelist()
    assert "config.json" in names and not any(n.endswith((".pkl", ".pickle")) for n in names)
    config_text = zipfile.ZipFile(io.BytesIO(artifact)).read("config.json").decode()
    assert "Lambda" not in config_text and "taskcode>FillMissing" in config_text

    version, people, model = registry.load_champion(conn)
    assert version == result.version and people == ["alice", "bob"]
    # The loaded file alone reproduces the stored test F1 from raw feature rows.
    test_ids = [t for t in dataset.load(settings, conn).part("test").index]
    frame = dataset.feature_frame(conn, test_ids)
    proba = probabilities(model, frame)
    truth = frame["owners"].str[0].map({"alice": 0, "bob": 1}).to_numpy()
    from taskcode.metrics import macro_f1

    assert macro_f1(people, truth, proba.argmax(axis=1)) == pytest.approx(result.metrics["f1"])

    # Raw rows with gaps and values never seen in training still give probabilities.
    odd = frame.head(3).copy()
    odd.loc[odd.index[0], ["time_signature", "release_year", "tempo"]] = np.nan
    odd.loc[odd.index[1], "key"] = 99  # not a Spotify key: the out-of-vocabulary column
    odd.loc[odd.index[2], "key"] = -1  # "no key detected" is a real value, not OOV
    out = probabilities(model, odd)
    assert np.isfinite(out).all() and np.allclose(out.sum(axis=1), 1)
    lookup = model.get_layer("key_one_hot")
    assert -1 in [int(v) for v in lookup.get_vocabulary()[1:]]

    hidden = hidden_model(model).predict(model_inputs(model, frame), verbose=0)
    assert hidden.shape == (len(frame), 4)  # hidden_2 of QUICK has 4 units


# -- the registry's guarantees -----------------------------------------------------------------


def _champion_and_candidate(conn, write_config, candidate_config=""):
    """A weak promoted version and a genuinely better candidate trained on the same songs.

    The gate scores both again on the candidate's test songs, so the candidate
    must really be better: a copy with a faked F1 would tie.
    """
    weak = _settings(write_config, WEAK + "  min_tracks_per_person: 10\n")
    first = train.train(weak, conn)
    assert promotion.evaluate_and_promote(weak, conn, first.version).promoted
    candidate = train.train(_settings(write_config, BETTER + candidate_config), conn, force=True)
    return first.version, candidate.version


def test_a_failure_inside_promotion_leaves_the_old_champion(conn, write_config, monkeypatch):
    settings = _settings(write_config, QUICK)
    load_into_database(conn, generate(people=2, tracks=200, seed=12))
    old, candidate = _champion_and_candidate(conn, write_config)

    def broken_decision(cur, version, text, **kwargs):  # after the champion moved, before the commit
        raise RuntimeError("the database went away mid-promotion")

    monkeypatch.setattr(registry, "record_decision", broken_decision)
    with pytest.raises(RuntimeError):
        promotion.evaluate_and_promote(settings, conn, candidate)
    assert _statuses(conn) == {old: "champion", candidate: "candidate"} and _champion(conn) == old

    monkeypatch.undo()
    assert promotion.evaluate_and_promote(settings, conn, candidate).promoted
    assert _statuses(conn) == {old: "retired", candidate: "champion"} and _champion(conn) == candidate
    # The database itself refuses a second champion, whatever the code does.
    with pytest.raises(psycopg2.errors.UniqueViolation):
        with db.transaction(conn) as cur:
            cur.execute("UPDATE model_versions SET status = 'champion' WHERE version = %s", (old,))
    assert _rows(conn, "SELECT count(*) FROM model_versions WHERE status = 'champion'") == [(1,)]


def test_min_f1_gain_is_part_of_the_gate(conn, write_config):
    load_into_database(conn, generate(people=2, tracks=200, seed=12))
    old, candidate = _champion_and_candidate(conn, write_config)
    demanding = _settings(write_config, QUICK + "  min_f1_gain: 1.0\n")
    decision = promotion.evaluate_and_promote(demanding, conn, candidate)
    assert not decision.promoted and "+ 1.000" in decision.text
    assert _champion(conn) == old


def test_a_champion_trained_on_another_split_is_not_measured_on_songs_it_learned(conn, write_config):
    settings = _settings(write_config, QUICK)
    load_into_database(conn, generate(people=2, tracks=200, seed=12))
    old, candidate = _champion_and_candidate(conn, write_config, "  test_fraction: 0.3\n")
    decision = promotion.evaluate_and_promote(settings, conn, candidate)
    assert "other split fractions" in decision.text
    assert decision.reference == "the majority-class baseline" and decision.promoted


# -- predict and discover ------------------------------------------------------------------------


@pytest.fixture
def champion_db(conn, write_config, tmp_path):
    """A database with a champion trained on a small library that also has a catalog."""
    lib = generate(people=2, tracks=200, seed=13, catalog_extra=60)
    catalog = tmp_path / "catalog.csv"
    lib.write_catalog(catalog)
    settings = _settings(write_config, QUICK + f"paths:\n  catalog_csv: {catalog}\nfeatures:\n  sources: [csv]\n")
    load_into_database(conn, lib)
    result = train.train(settings, conn)
    promotion.evaluate_and_promote(settings, conn, result.version)
    return settings, lib


def test_predict_a_known_track_by_id_uri_and_url(conn, champion_db):
    settings, lib = champion_db
    like = lib.likes_of("alice")[0]
    refs = [like.track_id, f"spotify:track:{like.track_id}", f"https://open.spotify.com/track/{like.track_id}?si=abc"]
    results = predict(settings, conn, refs)
    assert [r.track_id for r in results] == [like.track_id] * 3
    first = results[0]
    assert first.message is None and first.features_from == "database"
    assert set(first.probabilities) == {"alice", "bob"}
    assert sum(first.probabilities.values()) == pytest.approx(1, abs=1e-3)
    assert first.guess == max(first.probabilities, key=first.probabilities.get)
    assert "alice" in first.owners and first.name.startswith(lib.tracks[like.track_id]["name"])
    assert all(r.probabilities == first.probabilities for r in results)


def test_predict_an_unknown_track_is_a_message_not_an_exception(conn, champion_db):
    settings, lib = champion_db
    known = lib.likes_of("bob")[0].track_id
    results = predict(settings, conn, ["Z" * 22, "not a track", known])
    assert results[0].probabilities == {} and "not in the database" in results[0].message
    assert "no feature source knows it" in results[0].message
    assert "not a Spotify track id" in results[1].message
    assert results[2].probabilities and results[2].message is None


def test_predict_asks_the_feature_sources_for_tracks_the_database_lacks(conn, champion_db):
    settings, lib = champion_db
    stranger = lib.catalog_only[0]  # in the catalog file, never liked: not in the database
    with db.transaction(conn) as cur:
        cur.execute("SELECT count(*) FROM tracks WHERE track_id = %s", (stranger,))
        assert cur.fetchone()[0] == 0
    nobody_knows = "Q" * 22
    results = predict(settings, conn, [stranger, nobody_knows])
    assert results[0].features_from == "feature source" and results[0].probabilities
    assert results[0].message is None
    assert results[1].message == "unknown: not in the database, and no feature source knows it"


def test_predict_without_a_champion_says_to_train(conn, settings):
    with pytest.raises(DataError, match="no champion model yet; run: python -m taskcode train"):
        predict(settings, conn, ["A" * 22])


def test_discover_ranks_catalog_songs_the_person_has_not_liked(conn, champion_db, write_config):
    settings, lib = champion_db
    found = discover(settings, conn, "alice", top=5)
    assert len(found) == 5
    chances = [song["probability"] for song in found]
    assert chances == sorted(chances, reverse=True)
    liked = {like.track_id for like in lib.likes_of("alice")}
    assert not {song["track_id"] for song in found} & liked
    assert all(song["name"] and song["artists"] for song in found)

    with pytest.raises(DataError, match="not one of the champion's people"):
        discover(settings, conn, "mallory")
    no_catalog = _settings(write_config, QUICK)
    with pytest.raises(DataError, match="set paths.catalog_csv"):
        discover(no_catalog, conn, "alice")


def test_discoveries_are_stored_for_everyone_and_replaced(conn, champion_db):
    from taskcode.predict import store_discoveries

    settings, lib = champion_db
    summary = store_discoveries(settings, conn, top=7)
    assert summary["people"] == {"alice": 7, "bob": 7}
    store_discoveries(settings, conn, top=3)  # a second night replaces, never adds
    with db.transaction(conn) as cur:
        cur.execute(
            "SELECT person, track_id, rank, probability FROM discoveries WHERE source = 'catalog' ORDER BY person, rank"
        )
        rows = cur.fetchall()
    assert [(p, r) for p, _, r, _ in rows] == [
        ("alice", 1),
        ("alice", 2),
        ("alice", 3),
        ("bob", 1),
        ("bob", 2),
        ("bob", 3),
    ]
    assert rows[0][1] == discover(settings, conn, "alice", top=1)[0]["track_id"]
    liked = {like.track_id for like in lib.likes_of("bob")}
    assert not {t for p, t, _, _ in rows if p == "bob"} & liked


def test_discoveries_are_skipped_without_catalog_or_champion(conn, settings):
    from taskcode.predict import store_discoveries

    assert "no catalog" in store_discoveries(settings, conn)["skipped"]


# -- the command line ------------------------------------------------------------------------------


def test_cli_train_predict_list_and_rollback(conn, settings, write_config, database_url):
    from tests.conftest import run_cli

    lib = generate(people=2, tracks=200, seed=14)
    load_into_database(conn, lib)
    config = write_config(QUICK)
    env = {"DATABASE_URL": database_url, "TASKCODE_CONFIG": str(config)}

    trained = run_cli("train", env=env)
    assert trained.returncode == 0, trained.stderr
    assert "keras MLP" in trained.stdout and "logistic regression" in trained.stdout
    assert "decision: promoted" in trained.stdout

    skipped = run_cli("train", env=env)
    assert skipped.returncode == 0 and skipped.stdout.startswith("skipped:")

    track = lib.likes_of("alice")[0].track_id
    predicted = run_cli("predict", "--json", track, "nonsense", env=env)
    assert predicted.returncode == 2, predicted.stderr  # the good reference is still answered
    assert predicted.stderr.strip().splitlines()[-1].startswith("error: predict: not a Spotify track: 'nonsense'")
    answers = json.loads(predicted.stdout)
    assert answers[0]["track_id"] == track and set(answers[0]["probabilities"]) == {"alice", "bob"}
    assert answers[1]["message"].startswith("not a Spotify track id")

    listed = run_cli("model", "list", env=env)
    assert listed.returncode == 0 and "champion" in listed.stdout
    assert "promoted: F1" in listed.stdout  # the decision under its version

    rollback = run_cli("model", "rollback", env=env)
    assert rollback.returncode != 0
    assert rollback.stderr.strip().splitlines()[-1].startswith("error: version 1 was the first champion")
