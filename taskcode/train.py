"""Training: the original project's Keras MLP, built from config and judged fairly.

The model takes one input per feature column with the *raw* value a feature
source sends, and does its own preprocessing in its first layers (fill a
missing value, log, standardise, one-hot). So the saved `.keras` file alone
turns a raw feature row into probabilities: no scaler pickled beside it that
could get out of step with the model.

    danceability ─ fill ─ standardise ─┐
    speechiness  ─ fill ─ log ─ standardise ─┤
    key          ─ fill ─ one-hot ─────┼─ features ─ hidden_1 … hidden_k ─ output
    …                                   ┘

Two people: one sigmoid unit (the probability of the second person) and
binary cross-entropy; more people: softmax and categorical cross-entropy.
Early stopping watches the validation split and restores the best weights;
the test split is touched only for the metrics. Beside the network, a
logistic regression and scikit-learn's MLP learn from the very same
preprocessed inputs: the honest answer to "is the neural network worth it?".

TensorFlow is imported inside the functions, never at module import.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from taskcode import dataset, registry
from taskcode.config import Settings
from taskcode.errors import ConfigError
from taskcode.metrics import classification_metrics, majority_f1
from taskcode.runs import recorded

log = logging.getLogger(__name__)

# Every value Spotify documents for the categorical features, so a one-hot
# column exists even for a value tonight's training songs happen to lack.
# Anything else lands in one extra out-of-vocabulary column.
VOCABULARIES = {
    "key": list(range(-1, 12)),        # -1: no key detected
    "mode": [0, 1],
    "time_signature": [0, 1, 3, 4, 5, 6, 7],
    "explicit": [0, 1],
}
# IntegerLookup's default oov_token is -1, which would silently turn key = -1
# into "unknown"; this value is never a real feature.
OOV_TOKEN = -1000


@dataclass(frozen=True)
class TrainResult:
    version: int | None          # None: skipped, nothing new to learn
    fingerprint: str
    message: str
    metrics: dict = field(default_factory=dict)
    baselines: dict = field(default_factory=dict)


def train(settings: Settings, conn, force: bool = False) -> TrainResult:
    """Train a candidate unless the data and config equal the champion's.

    Records a `runs` row (kind 'train'): succeeded, skipped or failed.
    The new version is a `candidate`; `registry.evaluate_and_promote` judges it.
    """
    with recorded(conn, "train") as run:
        result = _train(settings, conn, force)
        run.summary = {"version": result.version, "fingerprint": result.fingerprint, "message": result.message}
        if result.metrics:
            run.summary |= {"f1": result.metrics["f1"], "counts": result.metrics["counts"]}
        if result.version is None:
            run.status = "skipped"
    return result


def _train(settings: Settings, conn, force: bool) -> TrainResult:
    data = dataset.load(settings, conn)
    # Nothing new since the champion, or since the last attempt (a rejected model
    # would only be trained and rejected again: training is deterministic).
    versions = registry.list_versions(conn)
    seen = [v for v in versions if v.status == "champion" or v is versions[-1]]
    same = next((v for v in seen if v.data_fingerprint == data.fingerprint), None)
    if same and same.status == "candidate" and not force:
        # Trained on exactly this data, but its run ended before the gate (killed, or the
        # database went away): judge that version now, or it would block this data for good.
        message = f"version {same.version} was trained on this data but never judged; judging it now"
        log.info(message)
        return TrainResult(same.version, data.fingerprint, message, same.metrics, same.baselines)
    if same and not force:
        message = (
            f"skipped: data and config unchanged since version {same.version} ({same.status}); "
            "train --force trains anyway"
        )
        log.info(message)
        return TrainResult(None, data.fingerprint, message)
    counts = data.counts()
    log.info(
        "training on %d songs (%d validation, %d test, %d shared left out) of %s",
        counts["train"], counts["validation"], counts["test"], counts["shared"], ", ".join(data.people),
    )
    model, metrics = fit(settings, data)
    baselines = fit_baselines(settings, data, model)
    test = data.part("test")
    version = registry.register(
        conn, model,
        people=data.people,
        config=dataset.training_config(settings),
        fingerprint=data.fingerprint,
        metrics=metrics,
        baselines=baselines,
        test_set={"track_ids": list(test.index), "labels": list(test["person"])},
    )
    return TrainResult(version, data.fingerprint, f"trained version {version}", metrics, baselines)


# -- the network ------------------------------------------------------------------


def fit(settings: Settings, data: dataset.Dataset):
    """Build, train and measure the Keras model; returns (model, metrics)."""
    import keras
    import tensorflow as tf

    # Same data + config + seed -> same weights -> same metrics.
    keras.utils.set_random_seed(settings.model.seed)
    tf.config.experimental.enable_op_determinism()

    train_part, validation, test = data.part("train"), data.part("validation"), data.part("test")
    model = build_model(settings, data.people, train_part)
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=settings.model.patience, restore_best_weights=True
    )
    batch_size = batch_size_for(settings.model.batch_size, len(train_part))
    started = time.perf_counter()
    history = model.fit(
        registry.model_inputs(model, train_part), _targets(train_part, len(data.people)),
        validation_data=(
            registry.model_inputs(model, validation), _targets(validation, len(data.people))
        ),
        epochs=settings.model.epochs,
        batch_size=batch_size,
        callbacks=[stop],
        shuffle=True,
        verbose=0,
    )
    seconds = time.perf_counter() - started
    y_test = dataset.labels_of(test)
    metrics = classification_metrics(data.people, y_test, registry.probabilities(model, test))
    metrics |= {
        "majority_f1": majority_f1(data.people, dataset.labels_of(train_part), y_test),
        "counts": data.counts(),
        "epochs": len(history.history["loss"]),
        "batch_size": batch_size,
        "training_seconds": round(seconds, 3),
    }
    log.info("keras MLP: F1 %.3f after %d epochs (%.1f s)", metrics["f1"], metrics["epochs"], seconds)
    return model, metrics


# An epoch of about this many steps is plenty for a network this small.
STEPS_PER_EPOCH = 200


def batch_size_for(configured: int, train_rows: int) -> int:
    """`model.batch_size`, raised for big data sets to keep about STEPS_PER_EPOCH steps an epoch.

    Each step costs the framework a few milliseconds whatever the batch, so
    with a class of 20 x 5,000 songs (51k training songs) batches of 64 made
    800 steps an epoch and training took 40 s on 2 cores; batches of 256
    take 19 s and reach the same F1 (`bench/training.py`). A home's 2 x 1,000
    songs keep the configured size: a power of two near rows / 200, never
    below the configured value.
    """
    scaled = 2 ** round(math.log2(max(train_rows, 1) / STEPS_PER_EPOCH)) if train_rows > STEPS_PER_EPOCH else 1
    return max(configured, scaled)


def build_model(settings: Settings, people, train_part: pd.DataFrame):
    """The compiled functional model: preprocessing, hidden layers, output."""
    import keras

    inputs, features = _preprocessing(settings.features.columns, train_part)
    # A little weight decay (model.l2) keeps the small network from memorising
    # a thousand songs; without it the validation loss turns up after a few epochs.
    decay = keras.regularizers.L2(settings.model.l2) if settings.model.l2 > 0 else None
    x = features
    for number, units in enumerate(settings.model.hidden_layers, start=1):
        x = keras.layers.Dense(
            units, activation=settings.model.activation, kernel_regularizer=decay, name=f"hidden_{number}"
        )(x)
        if settings.model.dropout > 0:
            x = keras.layers.Dropout(settings.model.dropout, name=f"dropout_{number}")(x)
    units, activation, loss = output_and_loss(settings.model.loss, len(people))
    outputs = keras.layers.Dense(units, activation=activation, name="output")(x)
    model = keras.Model(inputs=inputs, outputs=outputs, name="whose_song")
    model.compile(optimizer=keras.optimizers.Adam(settings.model.learning_rate), loss=loss)
    return model


def output_and_loss(loss: str, n_people: int) -> tuple[int, str, str]:
    """(output units, output activation, Keras loss name) for `model.loss`."""
    if loss == "binary_crossentropy" and n_people != 2:
        raise ConfigError(
            f"config: 'model.loss' binary_crossentropy needs exactly 2 people, there are {n_people}; "
            "allowed: auto, categorical_crossentropy, focal"
        )
    if loss == "auto":
        loss = "binary_crossentropy" if n_people == 2 else "categorical_crossentropy"
    if loss == "focal":
        loss = "binary_focal_crossentropy" if n_people == 2 else "categorical_focal_crossentropy"
    if loss.startswith("binary"):
        return 1, "sigmoid", loss
    return n_people, "softmax", loss


def _preprocessing(columns: dict[str, str], train_part: pd.DataFrame):
    """One Input per feature column and the concatenated, preprocessed tensor.

    Every statistic (fill value, mean, variance) comes from the training
    split only, so nothing about the validation or test songs leaks in.
    """
    import keras

    from taskcode.layers import FillMissing, Log1p

    inputs, encoded = {}, []
    for column, how in columns.items():
        raw = train_part[column].to_numpy(dtype="float32").reshape(-1, 1)
        steps = [FillMissing(_fill_value(raw, how), name=f"{column}_fill")]
        if how == "log":
            steps.append(Log1p(name=f"{column}_log"))
        if how in ("standardize", "log"):
            norm = keras.layers.Normalization(name=f"{column}_standardize")
            norm.adapt(_apply(steps, raw))  # mean and variance after fill (and log)
            steps.append(norm)
        if how == "one_hot":
            steps.append(keras.layers.IntegerLookup(
                vocabulary=VOCABULARIES[column], num_oov_indices=1, oov_token=OOV_TOKEN,
                output_mode="one_hot", name=f"{column}_one_hot",
            ))
        inputs[column] = keras.Input(shape=(1,), dtype="float32", name=column)
        encoded.append(_apply(steps, inputs[column]))
    if len(encoded) == 1:
        return inputs, keras.layers.Identity(name="features")(encoded[0])
    return inputs, keras.layers.Concatenate(name="features")(encoded)


def _fill_value(raw: np.ndarray, how: str) -> float:
    """The training median; for a one-hot column its most common value."""
    known = raw[~np.isnan(raw)]
    if known.size == 0:
        log.warning("a feature column has no values in the training split; filling with 0")
        return 0.0
    if how == "one_hot":
        values, counts = np.unique(known, return_counts=True)
        return float(values[counts.argmax()])
    return float(np.median(known))


def _apply(steps, x):
    for step in steps:
        x = step(x)
    return x


def _targets(frame: pd.DataFrame, n_people: int) -> np.ndarray:
    labels = dataset.labels_of(frame)
    if n_people == 2:
        return labels.astype("float32").reshape(-1, 1)
    return np.eye(n_people, dtype="float32")[labels]


# -- the baselines ------------------------------------------------------------------


def fit_baselines(settings: Settings, data: dataset.Dataset, model) -> dict:
    """Logistic regression and scikit-learn's MLP on the model's own preprocessed inputs.

    Both learn from the training split only (sklearn's MLP holds out 10 % of
    it for its own early stopping) and are measured on the same test split.
    """
    import keras
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    encoder = keras.Model(model.inputs, model.get_layer("features").output)
    train_part, test = data.part("train"), data.part("test")

    def encode(frame):
        return encoder.predict(registry.model_inputs(model, frame), verbose=0, batch_size=1024)

    x_train, x_test = encode(train_part), encode(test)
    y_train, y_test = dataset.labels_of(train_part), dataset.labels_of(test)
    candidates = {
        "logistic_regression": LogisticRegression(max_iter=1000),
        "sklearn_mlp": MLPClassifier(
            hidden_layer_sizes=settings.model.hidden_layers, early_stopping=True,
            max_iter=500, random_state=settings.model.seed,
        ),
    }
    results = {}
    for name, estimator in candidates.items():
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(x_train, y_train)
        seconds = time.perf_counter() - started
        scores = classification_metrics(data.people, y_test, estimator.predict_proba(x_test))
        results[name] = {key: scores[key] for key in ("f1", "f1_per_person", "roc_auc", "accuracy")}
        results[name]["training_seconds"] = round(seconds, 3)
        log.info("%s: F1 %.3f", name, scores["f1"])
    return results


# -- the report -----------------------------------------------------------------------


def format_report(result: TrainResult, decision=None) -> str:
    """A short table: the network, the baselines, per person, and the gate's verdict."""
    if result.version is None:
        return result.message
    m, counts = result.metrics, result.metrics["counts"]
    lines = [
        f"version {result.version}: trained on {counts['train']} songs "
        f"(validation {counts['validation']}, test {counts['test']}; "
        f"{counts['shared']} shared songs left out), {m['epochs']} epochs, {m['training_seconds']:.1f} s",
        f"  {'':22}{'F1':>7}{'ROC AUC':>9}{'accuracy':>10}",
    ]
    rows = [("keras MLP", m)] + [
        (name.replace("_", " ").replace("sklearn mlp", "sklearn MLP"), scores)
        for name, scores in result.baselines.items()
    ]
    for label, scores in rows:
        lines.append(f"  {label:22}{scores['f1']:7.3f}{scores['roc_auc']:9.3f}{scores['accuracy']:10.3f}")
    lines.append(f"  {'majority class':22}{m['majority_f1']:7.3f}")
    lines.append("  per person: " + "; ".join(
        f"{name} F1 {m['f1_per_person'][name]:.3f} (precision {m['precision'][name]:.3f}, "
        f"recall {m['recall'][name]:.3f}, {counts['per_person'][name]} songs)"
        for name in m["f1_per_person"]
    ))
    if decision is not None:
        lines.append(f"decision: {decision.text}")
    return "\n".join(lines)
