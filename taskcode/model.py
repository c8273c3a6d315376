"""The Keras model itself: built from settings, fed from a feature frame, saved as bytes.

The model takes one input per feature column with the *raw* value a feature
source sends, and does its own preprocessing in its first layers (fill a
missing value, log, standardise, one-hot). So the saved `.keras` file alone
turns a raw feature row into probabilities: no scaler pickled beside it that
could get out of step with the model.

    danceability ─ fill ─ standardise ─┐
    speechiness  ─ fill ─ log ─ standardise ─┤
    key          ─ fill ─ one-hot ─────┼─ features ─ hidden_1 … hidden_k ─ output
    …                                   │
    artist_ids, leave_out ─ affinity ──┘   (model.signals.artists)

Two people: one sigmoid unit (the probability of the second person) and
binary cross-entropy; more people: softmax and categorical cross-entropy.

The custom layers live in `taskcode.layers`, which imports Keras at module
level (a layer class must subclass Keras' own); this module imports Keras and
TensorFlow only inside the functions that need them, so the CLI, the registry
and the dashboard start without them.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings

import numpy as np
import pandas as pd

from taskcode.config import Settings
from taskcode.errors import ConfigError

log = logging.getLogger(__name__)

# Every value Spotify documents for the categorical features, so a one-hot
# column exists even for a value tonight's training songs happen to lack.
# Anything else lands in one extra out-of-vocabulary column.
VOCABULARIES = {
    "key": list(range(-1, 12)),  # -1: no key detected
    "mode": [0, 1],
    "time_signature": [0, 1, 3, 4, 5, 6, 7],
    "explicit": [0, 1],
}
# IntegerLookup's default oov_token is -1, which would silently turn key = -1
# into "unknown"; this value is never a real feature.
OOV_TOKEN = -1000
# The artist signal's two inputs: a song's artist ids joined by ";", and the person
# whose own like is left out of the artist counts (-1: nobody; see ArtistAffinity).
ARTIST_IDS, LEAVE_OUT = "artist_ids", "leave_out"


# -- building -------------------------------------------------------------------------


def build_model(settings: Settings, people, train_part: pd.DataFrame, columns: dict[str, str], artists: bool):
    """The compiled functional model: preprocessing (`columns`, and the artist lookup
    when `artists`), hidden layers, output."""
    import keras

    inputs, features = preprocessing(columns, train_part, people if artists else None)
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


def preprocessing(columns: dict[str, str], train_part: pd.DataFrame, people=None):
    """One Input per feature column (and the artist inputs when `people` is given)
    and the concatenated, preprocessed tensor.

    Every statistic (fill value, mean, variance, artist counts) comes from the
    training split only, so nothing about the validation or test songs leaks in.
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
            steps.append(
                keras.layers.IntegerLookup(
                    vocabulary=VOCABULARIES[column],
                    num_oov_indices=1,
                    oov_token=OOV_TOKEN,
                    output_mode="one_hot",
                    name=f"{column}_one_hot",
                )
            )
        inputs[column] = keras.Input(shape=(1,), dtype="float32", name=column)
        encoded.append(_apply(steps, inputs[column]))
    if people is not None:
        inputs[ARTIST_IDS] = keras.Input(shape=(1,), dtype="string", name=ARTIST_IDS)
        inputs[LEAVE_OUT] = keras.Input(shape=(1,), dtype="float32", name=LEAVE_OUT)
        encoded.append(_artist_affinity(train_part, len(people))([inputs[ARTIST_IDS], inputs[LEAVE_OUT]]))
    if len(encoded) == 1:
        return inputs, keras.layers.Identity(name="features")(encoded[0])
    return inputs, keras.layers.Concatenate(name="features")(encoded)


def _artist_affinity(train_part: pd.DataFrame, n_people: int):
    """The lookup layer, its counts taken from the training songs: per artist, songs liked per person."""
    from taskcode.layers import ArtistAffinity

    pairs = pd.DataFrame(
        {"artist": train_part["artist_ids"].apply(lambda ids: sorted(set(ids))), "label": train_part["label"]}
    ).explode("artist")
    pairs = pairs.dropna(subset=["artist"])
    table = pd.crosstab(pairs["artist"], pairs["label"]).reindex(columns=range(n_people), fill_value=0)
    counts = np.vstack([np.zeros((1, n_people)), table.to_numpy(dtype="float32")])
    prior = np.bincount(train_part["label"].to_numpy(dtype="int64"), minlength=n_people) / len(train_part)
    return ArtistAffinity(list(table.index), prior, counts=counts, name="artist_affinity")


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


# -- using ----------------------------------------------------------------------------


def model_inputs(model, frame: pd.DataFrame, leave_out: bool = False) -> dict[str, np.ndarray]:
    """Raw feature columns of `frame`, one (n, 1) array per model input.

    Exactly the model's inputs: Keras silently mismatches a dict with extra keys.
    A frame without `artist_ids` (a catalog's) gets the artist prior.
    `leave_out`: the songs' own labels stay out of their artist counts (training songs).
    """
    return {tensor.name: _input_column(tensor.name, frame, leave_out) for tensor in model.inputs}


def _input_column(name: str, frame: pd.DataFrame, leave_out: bool) -> np.ndarray:
    if name == ARTIST_IDS:  # Keras takes text as a TensorFlow tensor only
        import tensorflow as tf

        ids = frame[name] if name in frame else [()] * len(frame)
        joined = [[";".join(artists) if isinstance(artists, tuple | list) else ""] for artists in ids]
        return tf.constant(joined, dtype=tf.string, shape=(len(frame), 1))
    if name == LEAVE_OUT:
        labels = frame["label"].to_numpy(dtype="float32") if leave_out else np.full(len(frame), -1.0, "float32")
        return labels.reshape(-1, 1)
    return frame[name].to_numpy(dtype="float32").reshape(-1, 1)


def repeated_batches(model, frame: pd.DataFrame, targets: np.ndarray, batch_size: int):
    """`frame`'s inputs and targets in fixed batches, repeated without end (validation data).

    Fed arrays, Keras opens a new tf.data iterator twice an epoch, which costs
    more than this small network's validation step; fed this (with
    `validation_steps`), it keeps one and reads the same batches every epoch.
    """
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((model_inputs(model, frame), targets)).batch(batch_size).repeat()


def outputs_of(model, frame: pd.DataFrame, leave_out: bool = False, chunk: int = 16384) -> np.ndarray:
    """The model's outputs for `frame`, called eagerly a chunk at a time.

    For the preprocessing encoders of the baselines: `predict` would trace a
    function and open a tf.data iterator for each new encoder, which costs far
    more than running these few layers; the numbers are the same.
    """
    import tensorflow as tf

    inputs = {name: tf.convert_to_tensor(column) for name, column in model_inputs(model, frame, leave_out).items()}
    parts = [
        np.asarray(model({name: column[start : start + chunk] for name, column in inputs.items()}, training=False))
        for start in range(0, len(frame), chunk)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, model.outputs[0].shape[-1]), "float32")


def probabilities(model, frame: pd.DataFrame) -> np.ndarray:
    """One probability per person (columns in the model's people order)."""
    if len(frame) == 0:
        raise ValueError("probabilities of an empty frame")
    out = model.predict(model_inputs(model, frame), verbose=0, batch_size=1024)
    if out.shape[1] == 1:  # one sigmoid unit: the probability of the second person
        out = np.hstack([1 - out, out])
    return out


def hidden_model(model):
    """The model up to its last hidden layer (`hidden_k`): what the map shows."""
    import keras

    hidden = sorted(
        (layer for layer in model.layers if layer.name.startswith("hidden_")),
        key=lambda layer: int(layer.name.rsplit("_", 1)[1]),
    )
    return keras.Model(model.inputs, hidden[-1].output, name="last_hidden")


# -- saving ---------------------------------------------------------------------------


def model_to_bytes(model) -> bytes:
    """The `.keras` file of a model, as bytes (Keras saves to files only)."""
    with tempfile.TemporaryDirectory(prefix="taskcode-model-") as folder:
        path = os.path.join(folder, "model.keras")
        with warnings.catch_warnings():
            # Keras on TensorFlow warns about numpy 2's `copy` keyword for every
            # variable it saves; harmless, and not ours to fix.
            warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
            model.save(path)
        with open(path, "rb") as handle:
            return handle.read()


def model_from_bytes(data: bytes):
    """A Keras model from `.keras` bytes, in Keras' safe mode (no pickled code)."""
    import keras

    import taskcode.layers  # noqa: F401 - registers the custom layers with Keras

    with tempfile.TemporaryDirectory(prefix="taskcode-model-") as folder:
        path = os.path.join(folder, "model.keras")
        with open(path, "wb") as handle:
            handle.write(bytes(data))
        return keras.saving.load_model(path, compile=False, safe_mode=True)
