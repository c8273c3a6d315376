"""Training: the original project's Keras MLP (see `taskcode.model`), judged fairly.

Early stopping watches the validation split and restores the best weights;
the test split is touched only for the metrics. Beside the network, a
logistic regression and scikit-learn's MLP learn from the very same
preprocessed inputs: the honest answer to "is the neural network worth it?";
and an MLP on the audio features alone answers "what do artists add?".

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

from taskcode import dataset, importance, registry
from taskcode.config import Settings
from taskcode.metrics import classification_metrics, majority_f1
from taskcode.model import build_model, model_inputs, outputs_of, preprocessing, probabilities, repeated_batches
from taskcode.runs import recorded
from taskcode.schema import BY_NAME

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    version: int | None  # None: skipped, nothing new to learn
    fingerprint: str
    message: str
    metrics: dict = field(default_factory=dict)
    baselines: dict = field(default_factory=dict)


def train(settings: Settings, conn, force: bool = False) -> TrainResult:
    """Train a candidate unless the data and config equal the champion's.

    Records a `runs` row (kind 'train'): succeeded, skipped or failed.
    The new version is a `candidate`; `promotion.evaluate_and_promote` judges it.
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
        counts["train"],
        counts["validation"],
        counts["test"],
        counts["shared"],
        ", ".join(data.people),
    )
    model, metrics = fit(settings, data)
    baselines = fit_baselines(settings, data, model)
    test = data.part("test")
    version = registry.register(
        conn,
        model,
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
    model = build_model(settings, data.people, train_part, data.columns, data.artists)
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=settings.model.patience, restore_best_weights=True
    )
    batch_size = batch_size_for(settings.model.batch_size, len(train_part))
    started = time.perf_counter()
    history = model.fit(
        model_inputs(model, train_part, leave_out=True),
        _targets(train_part, len(data.people)),
        validation_data=repeated_batches(model, validation, _targets(validation, len(data.people)), batch_size),
        epochs=settings.model.epochs,
        batch_size=batch_size,
        callbacks=[stop],
        # Known step counts let Keras keep its tf.data iterators instead of opening two an epoch.
        steps_per_epoch=math.ceil(len(train_part) / batch_size),
        validation_steps=math.ceil(len(validation) / batch_size),
        shuffle=True,
        verbose=0,
    )
    seconds = time.perf_counter() - started
    y_test = dataset.labels_of(test)
    metrics = classification_metrics(data.people, y_test, probabilities(model, test))
    metrics |= {
        "majority_f1": majority_f1(data.people, dataset.labels_of(train_part), y_test),
        "counts": data.counts(),
        "epochs": len(history.history["loss"]),
        "batch_size": batch_size,
        "training_seconds": round(seconds, 3),
        **training_curve(history.history),
        "importance": importance.permutation_importance(model, data.people, test, settings.model.seed),
    }
    log.info(
        "keras MLP: F1 %.3f after %d epochs, best %d (%.1f s)",
        metrics["f1"],
        metrics["epochs"],
        metrics["best_epoch"],
        seconds,
    )
    return model, metrics


def training_curve(history: dict[str, list[float]]) -> dict:
    """Loss and val_loss per epoch, and the best epoch (1-based): the one whose weights
    early stopping restored, the lowest val_loss (its first occurrence, as Keras counts)."""
    curve = {key: [round(float(value), 6) for value in history[key]] for key in ("loss", "val_loss")}
    return {"curve": curve, "best_epoch": int(np.argmin(history["val_loss"])) + 1}


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


def _targets(frame: pd.DataFrame, n_people: int) -> np.ndarray:
    labels = dataset.labels_of(frame)
    if n_people == 2:
        return labels.astype("float32").reshape(-1, 1)
    return np.eye(n_people, dtype="float32")[labels]


# -- the baselines ------------------------------------------------------------------


def fit_baselines(settings: Settings, data: dataset.Dataset, model) -> dict:
    """Fair baselines, measured on the same test split.

    A logistic regression and scikit-learn's MLP learn from exactly the
    network's preprocessed inputs ("is the network worth it?"); a second
    scikit-learn MLP from the audio features alone ("what do the other signals
    add?"). All learn from the training split only (sklearn's MLP holds out
    10 % of it for its own early stopping), artist shares with leave-one-out.
    """
    import keras
    from sklearn.linear_model import LogisticRegression

    train_part, test = data.part("train"), data.part("test")
    encoder = keras.Model(model.inputs, model.get_layer("features").output)
    inputs = _encoded(encoder, train_part, test)
    results = {
        "logistic_regression": _baseline(LogisticRegression(max_iter=1000), data, *inputs),
        "sklearn_mlp": _baseline(_sklearn_mlp(settings), data, *inputs),
    }
    audio = {name: how for name, how in data.columns.items() if BY_NAME[name].signal == "audio"}
    if audio and (audio != data.columns or data.artists):
        audio_inputs, audio_features = preprocessing(audio, train_part)
        audio_encoder = keras.Model(audio_inputs, audio_features)
        results["audio_only_mlp"] = _baseline(_sklearn_mlp(settings), data, *_encoded(audio_encoder, train_part, test))
    return results


def _encoded(encoder, train_part: pd.DataFrame, test: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The preprocessed inputs of the training songs (own likes left out) and the test songs."""
    return outputs_of(encoder, train_part, leave_out=True), outputs_of(encoder, test)


def _sklearn_mlp(settings: Settings):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        hidden_layer_sizes=settings.model.hidden_layers,
        early_stopping=True,
        max_iter=500,
        random_state=settings.model.seed,
    )


def _baseline(estimator, data: dataset.Dataset, x_train: np.ndarray, x_test: np.ndarray) -> dict:
    from sklearn.exceptions import ConvergenceWarning

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(x_train, dataset.labels_of(data.part("train")))
    seconds = time.perf_counter() - started
    scores = classification_metrics(data.people, dataset.labels_of(data.part("test")), estimator.predict_proba(x_test))
    result = {key: scores[key] for key in ("f1", "f1_per_person", "roc_auc", "accuracy")}
    log.info("%s: F1 %.3f", type(estimator).__name__, scores["f1"])
    return result | {"training_seconds": round(seconds, 3)}


# -- the report -----------------------------------------------------------------------


def format_report(result: TrainResult, decision=None) -> str:
    """A short table: the network, the baselines, per person, and the gate's verdict."""
    if result.version is None:
        return result.message
    m, counts = result.metrics, result.metrics["counts"]
    lines = [
        f"version {result.version}: trained on {counts['train']} songs "
        f"(validation {counts['validation']}, test {counts['test']}; "
        f"{counts['shared']} shared songs left out), {m['epochs']} epochs{_best(m)}, {m['training_seconds']:.1f} s",
        f"  {'':22}{'F1':>7}{'ROC AUC':>9}{'accuracy':>10}",
    ]
    rows = [("keras MLP", m)] + [
        (name.replace("_", " ").replace("mlp", "MLP"), scores) for name, scores in result.baselines.items()
    ]
    for label, scores in rows:
        lines.append(f"  {label:22}{scores['f1']:7.3f}{scores['roc_auc']:9.3f}{scores['accuracy']:10.3f}")
    lines.append(f"  {'majority class':22}{m['majority_f1']:7.3f}")
    lines.append(
        "  per person: "
        + "; ".join(
            f"{name} F1 {m['f1_per_person'][name]:.3f} (precision {m['precision'][name]:.3f}, "
            f"recall {m['recall'][name]:.3f}, {counts['per_person'][name]} songs)"
            for name in m["f1_per_person"]
        )
    )
    if decision is not None:
        lines.append(f"decision: {decision.text}")
    return "\n".join(lines)


def _best(metrics: dict) -> str:
    """', best epoch N (its weights kept)', or nothing for a version trained before curves were stored."""
    return f" (best epoch {metrics['best_epoch']}, its weights kept)" if "best_epoch" in metrics else ""
