"""Tests that can fail: the built network is the configured one, early stopping keeps the best
epoch, and each version stores its training curve and what each signal group is worth."""

import numpy as np
import pytest

from emulator import generate
from emulator.database import load_into_database
from taskcode import dataset, importance, registry, train
from taskcode.config import load_settings
from taskcode.model import model_inputs

pytestmark = pytest.mark.slow

# Every value differs from its default, so a setting that does not reach the network fails.
CONFIGURED = """
model:
  hidden_layers: [12, 6]
  activation: tanh
  dropout: 0.27
  learning_rate: 0.0123
  l2: 0.0042
  epochs: 3
  min_tracks_per_person: 10
"""
# Few training songs, a wide network without any brake: the validation loss soon turns up.
OVERFITS = """
model:
  hidden_layers: [64, 64]
  dropout: 0
  l2: 0
  learning_rate: 0.01
  epochs: 300
  patience: 3
  min_tracks_per_person: 10
"""
SOUND_AND_ARTISTS = """
model:
  hidden_layers: [16]
  epochs: 40
  patience: 5
  min_tracks_per_person: 10
  signals: {audio: true, artists: true, metadata: false}
"""


def _data(conn, write_config, text, library):
    load_into_database(conn, library)
    settings = load_settings(write_config(text))
    return settings, dataset.load(settings, conn)


def test_the_built_network_has_the_configured_activation_dropout_learning_rate_and_l2(conn, write_config):
    settings, data = _data(conn, write_config, CONFIGURED, generate(people=2, tracks=60, seed=31))
    model, _ = train.fit(settings, data)
    hidden = [model.get_layer(f"hidden_{n}") for n in (1, 2)]
    assert [layer.units for layer in hidden] == [12, 6]
    assert {layer.activation.__name__ for layer in hidden} == {"tanh"}
    assert [model.get_layer(f"dropout_{n}").rate for n in (1, 2)] == pytest.approx([0.27, 0.27])
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.0123)
    assert [layer.kernel_regularizer.l2 for layer in hidden] == pytest.approx([0.0042, 0.0042])


def test_early_stopping_stops_before_the_limit_and_keeps_the_best_epochs_weights(conn, write_config):
    settings, data = _data(conn, write_config, OVERFITS, generate(people=2, tracks=40, seed=32))
    model, metrics = train.fit(settings, data)
    curve, ran = metrics["curve"], metrics["epochs"]
    assert len(curve["loss"]) == len(curve["val_loss"]) == ran
    assert metrics["best_epoch"] < ran < settings.model.epochs, "early stopping never stopped"
    assert metrics["best_epoch"] == int(np.argmin(curve["val_loss"])) + 1
    # Training kept going after the best epoch: the last epochs fit the training songs better.
    assert curve["loss"][-1] < curve["loss"][metrics["best_epoch"] - 1]
    validation = data.part("validation")
    restored = model.evaluate(
        model_inputs(model, validation),
        train._targets(validation, len(data.people)),
        batch_size=metrics["batch_size"],
        verbose=0,
    )
    assert restored == pytest.approx(min(curve["val_loss"]), abs=1e-5)
    assert restored < curve["val_loss"][-1]
    assert f"best epoch {metrics['best_epoch']}" in train.format_report(
        train.TrainResult(1, data.fingerprint, "", metrics)
    )


def _sound_of_nobody(library):
    """The library with the sound (audio features, duration) dealt out again at random: it tells nobody apart."""
    tracks = list(library.tracks.values())
    order = np.random.default_rng(33).permutation(len(tracks))
    sounds = [(tracks[i]["features"], tracks[i]["duration_ms"]) for i in order]
    for track, (features, duration) in zip(tracks, sounds):
        track["features"], track["duration_ms"] = features, duration
    return library


def test_each_version_stores_its_curve_and_what_each_signal_group_is_worth(conn, write_config):
    library = _sound_of_nobody(generate(people=2, tracks=200, seed=34))
    settings, _ = _data(conn, write_config, SOUND_AND_ARTISTS, library)
    result = train.train(settings, conn)
    stored = registry.list_versions(conn)[-1]
    assert stored.version == result.version
    assert len(stored.metrics["curve"]["val_loss"]) == stored.metrics["epochs"]
    assert 1 <= stored.metrics["best_epoch"] <= stored.metrics["epochs"]

    worth = stored.metrics["importance"]
    print(f"\nimportance with a sound that tells nobody apart: {worth}")
    assert set(worth) == {"audio", "artists"}  # metadata is switched off: not measured
    assert abs(worth["audio"]["f1_drop"]) <= 0.03
    assert worth["artists"]["f1_drop"] >= 0.1
    assert worth["artists"]["f1_drop"] > worth["audio"]["f1_drop"] + 3 * worth["artists"]["std"]
    # Seeded from model.seed: measuring again gives the same numbers.
    model = registry.load_model(conn, result.version)
    data = dataset.load(settings, conn)
    again = importance.permutation_importance(model, data.people, data.part("test"), settings.model.seed)
    assert again == worth
