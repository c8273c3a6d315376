"""The model's building blocks without a database: split, metrics, loss choice, catalog."""

import numpy as np
import pytest

from emulator import generate
from taskcode import catalog
from taskcode.config import load_settings
from taskcode.dataset import split_of
from taskcode.errors import ConfigError, DataError
from taskcode.metrics import ROC_POINTS, classification_metrics, macro_f1, majority_f1


def test_split_is_a_function_of_the_id_and_roughly_the_configured_fractions():
    ids = [f"{i:022d}" for i in range(20_000)]
    splits = [split_of(track_id, 0.2, 0.15) for track_id in ids]
    assert splits == [split_of(track_id, 0.2, 0.15) for track_id in ids]  # same id, same split
    share = {name: splits.count(name) / len(ids) for name in ("train", "validation", "test")}
    assert share["test"] == pytest.approx(0.2, abs=0.01)
    assert share["validation"] == pytest.approx(0.15, abs=0.01)
    # A bigger test fraction only moves songs into test, never out of it.
    bigger = [split_of(track_id, 0.3, 0.15) for track_id in ids]
    assert all(after == "test" for before, after in zip(splits, bigger) if before == "test")


def test_two_person_f1_is_symmetric_macro_f1():
    y_true = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    y_pred = np.array([0, 0, 1, 1, 1, 1, 1, 0])
    forward = macro_f1(["alice", "bob"], y_true, y_pred)
    swapped = macro_f1(["bob", "alice"], 1 - y_true, 1 - y_pred)
    assert forward == pytest.approx(swapped)
    assert forward == pytest.approx((2 / 3 + 0.8) / 2)  # F1 of alice 2/3, of bob 0.8


def test_metrics_have_the_dashboard_keys_and_thin_roc_curves():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, 2000)
    proba = rng.dirichlet([1, 1, 1], 2000)
    proba[np.arange(2000), y_true] += 0.5
    proba /= proba.sum(axis=1, keepdims=True)
    people = ["alice", "bob", "carol"]
    m = classification_metrics(people, y_true, proba)
    assert set(m) == {"f1", "f1_per_person", "precision", "recall", "roc_auc", "roc_curve", "confusion", "accuracy"}
    assert set(m["roc_curve"]) == set(people)
    for curve in m["roc_curve"].values():
        assert 2 <= len(curve["fpr"]) == len(curve["tpr"]) <= ROC_POINTS
        assert (curve["fpr"][0], curve["fpr"][-1]) == (0.0, 1.0)
    assert m["confusion"]["labels"] == people
    assert np.array(m["confusion"]["matrix"]).sum() == 2000
    assert np.trace(m["confusion"]["matrix"]) / 2000 == pytest.approx(m["accuracy"])


def test_majority_baseline_guesses_the_most_common_training_person():
    people = ["alice", "bob"]
    y_train = np.array([1, 1, 1, 0])
    y_test = np.array([0, 1, 1, 1])
    # Always "bob": bob's F1 is 2*0.75/(1+0.75), alice's is 0.
    assert majority_f1(people, y_train, y_test) == pytest.approx((2 * 0.75 / 1.75) / 2)


def test_loss_follows_the_number_of_people_and_binary_needs_two():
    from taskcode.model import output_and_loss

    assert output_and_loss("auto", 2) == (1, "sigmoid", "binary_crossentropy")
    assert output_and_loss("auto", 3) == (3, "softmax", "categorical_crossentropy")
    assert output_and_loss("categorical_crossentropy", 2) == (2, "softmax", "categorical_crossentropy")
    assert output_and_loss("focal", 4) == (4, "softmax", "categorical_focal_crossentropy")
    with pytest.raises(ConfigError, match="'model.loss' binary_crossentropy needs exactly 2 people"):
        output_and_loss("binary_crossentropy", 3)


def test_train_model_and_registry_modules_do_not_import_tensorflow():
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    code = (
        "import sys; import taskcode.train, taskcode.model, taskcode.registry, taskcode.promotion, "
        "taskcode.predict, taskcode.dataset; "
        "print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize(
    "text, expected",
    [
        ("model:\n  l2: -0.1\n", "'model.l2' must be >= 0"),
        ("model:\n  validation_fraction: 0\n", "'model.validation_fraction' must be > 0"),
        ("model:\n  test_fraction: 0.7\n", "'model.test_fraction' must be > 0 and <= 0.5"),
        ("model:\n  loss: hinge\n", "'model.loss' is 'hinge'; allowed: auto"),
        ("model:\n  min_f1_gain: 2\n", "'model.min_f1_gain' must be >= 0 and <= 1"),
        ("features:\n  columns: {tempo: one_hot}\n", "'features.columns.tempo' cannot be one_hot"),
    ],
)
def test_bad_model_config_is_one_line_naming_the_key(write_config, text, expected):
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(text))
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_model_l2_has_a_default_and_can_be_turned_off(write_config):
    assert load_settings(write_config("")).model.l2 == 0.001
    assert load_settings(write_config("model:\n  l2: 0\n")).model.l2 == 0


def test_catalog_reads_the_public_columns_and_turns_them_into_features(tmp_path):
    lib = generate(people=2, tracks=40, seed=3, catalog_extra=10)
    path = tmp_path / "catalog.csv"
    rows = lib.write_catalog(path)
    frame = catalog.read_catalog(path)
    assert len(frame) == rows and frame.index.name == "track_id"
    features = catalog.catalog_features(frame)
    some_id = frame.index[0]
    track = lib.tracks[some_id]
    assert features.loc[some_id, "tempo"] == pytest.approx(track["features"]["tempo"])
    assert features.loc[some_id, "explicit"] == float(track["explicit"])
    assert features.loc[some_id, "artist_count"] == len(track["artists"])
    assert features["release_year"].isna().all()  # the catalog has no year: the model fills it in


def test_catalog_without_needed_columns_is_one_line(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_text("track_id,track_name,artists\nabc,Song,Someone\n")
    with pytest.raises(DataError) as caught:
        catalog.read_catalog(path)
    message = str(caught.value)
    assert "lacks the column(s) duration_ms, explicit, danceability" in message and "\n" not in message
    with pytest.raises(ConfigError, match="does not exist; fix paths.catalog_csv"):  # a bad config value
        catalog.read_catalog(tmp_path / "nowhere.csv")


def test_big_data_sets_train_with_bigger_batches():
    from taskcode.train import batch_size_for

    assert batch_size_for(64, 1_300) == 64  # a home: the configured size
    assert batch_size_for(64, 12_000) == 64  # 190 steps an epoch with 64 already
    assert batch_size_for(64, 51_000) == 256  # a class of 20 x 5,000: about 200 steps an epoch
    assert batch_size_for(512, 51_000) == 512  # a bigger configured size wins
    assert batch_size_for(64, 0) == 64


def test_artist_affinity_is_a_smoothed_share_with_the_prior_for_strangers():
    import tensorflow as tf

    from taskcode.layers import ArtistAffinity

    # artist a: 3 songs of alice, 1 of bob; artist b: 2 of bob.
    layer = ArtistAffinity(["a", "b"], [0.5, 0.5], smoothing=2.0, counts=[[0, 0], [3, 1], [0, 2]])
    out = layer([tf.constant([["a"], ["a;b"], ["zzz"], [""], ["a"]]), tf.constant([[-1.0], [-1], [-1], [-1], [0]])])
    out = out.numpy()
    assert out[0, :2] == pytest.approx([4 / 6, 2 / 6])  # (3 + 2 * 0.5) / (4 + 2)
    assert out[1, :2] == pytest.approx([(4 / 6 + 1 / 4) / 2, (2 / 6 + 3 / 4) / 2])  # two artists: the mean
    assert out[2, :2] == pytest.approx([0.5, 0.5]) and out[3, :2] == pytest.approx([0.5, 0.5])
    assert out[4, :2] == pytest.approx([3 / 5, 2 / 5])  # alice's own like left out: 2 of 3
    assert out[0, 2] == pytest.approx(np.log1p(4))
