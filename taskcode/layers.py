"""The model's own preprocessing layers, saved inside the `.keras` file.

Keras has no layer for "fill a missing value", "log of a long-tailed
feature" or "who likes this song's artists". A `Lambda` layer could do them,
but it stores Python bytecode and only loads with `safe_mode=False`, i.e.
trusting the file like a pickle. These small layers are registered with
Keras instead: the file stores their name, config and weights, and loading
needs nothing but this module.

Import this module (it imports Keras) only where a model is built or loaded.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="taskcode")
class FillMissing(keras.layers.Layer):
    """Replace NaN (a feature no source sent) with a value learned in training."""

    def __init__(self, value: float, **kwargs):
        super().__init__(**kwargs)
        self.value = float(value)

    def call(self, inputs):
        return ops.where(ops.isnan(inputs), ops.full_like(inputs, self.value), inputs)

    def get_config(self):
        return {**super().get_config(), "value": self.value}


@keras.saving.register_keras_serializable(package="taskcode")
class Log1p(keras.layers.Layer):
    """log(1 + x) of x clipped at 0: squeezes long tails like speechiness or duration."""

    def call(self, inputs):
        return ops.log1p(ops.maximum(inputs, 0.0))


@keras.saving.register_keras_serializable(package="taskcode")
class ArtistAffinity(keras.layers.Layer):
    """Per person, the smoothed share of the training songs of a song's artists that they like.

    Inputs: the song's artist ids joined by `;` (a string), and the person whose
    own like is left out of the counts (the song's label while it trains, -1
    otherwise): a training song must not learn from its own answer. The counts
    per artist and person are a weight of this layer, built from the training
    songs at fit time, so the `.keras` file carries the lookup. An artist never
    seen counts nothing and gets the prior; a song's artists are averaged.
    Outputs one share per person and log(1 + the known songs of its artists).
    """

    def __init__(self, artists, prior, smoothing: float = 2.0, counts=None, **kwargs):
        super().__init__(**kwargs)
        self.artists, self.prior, self.smoothing = [str(a) for a in artists], [float(p) for p in prior], smoothing
        self.counts = self.add_weight(
            shape=(len(self.artists) + 1, len(self.prior)), initializer="zeros", trainable=False, name="counts"
        )
        if counts is not None:
            self.counts.assign(counts)
        self._keys = self.artists or ["\x00"]

    def build(self, input_shape):
        import tensorflow as tf

        # Row 0 of the counts is "never seen".
        initializer = tf.lookup.KeyValueTensorInitializer(
            tf.constant(self._keys), tf.range(1, len(self._keys) + 1, dtype=tf.int64)
        )
        self._table = tf.lookup.StaticHashTable(initializer, default_value=0)

    def call(self, inputs):
        import tensorflow as tf

        ids, leave_out = inputs
        tokens = tf.strings.split(tf.reshape(ids, [-1]), ";")
        rows, index = tokens.value_rowids(), self._table.lookup(tokens.flat_values)
        n_people = len(self.prior)
        own = tf.one_hot(tf.cast(tf.reshape(leave_out, [-1]), tf.int32), n_people)  # -1: all zeros
        counts = tf.maximum(tf.gather(self.counts, index) - tf.gather(own, rows), 0.0)
        prior = tf.constant(self.prior, dtype=counts.dtype)
        total = tf.reduce_sum(counts, axis=1, keepdims=True)
        share = (counts + self.smoothing * prior) / (total + self.smoothing)
        batch = tf.shape(ids)[0]
        summed = tf.math.unsorted_segment_sum(tf.concat([share, tf.math.log1p(total)], 1), rows, batch)
        number = tf.math.unsorted_segment_sum(tf.ones_like(total), rows, batch)
        fallback = tf.concat([prior, tf.zeros([1], counts.dtype)], 0)[None, :]
        return tf.where(number > 0, summed / tf.maximum(number, 1.0), fallback)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], len(self.prior) + 1)

    def get_config(self):
        return {**super().get_config(), "artists": self.artists, "prior": self.prior, "smoothing": self.smoothing}
