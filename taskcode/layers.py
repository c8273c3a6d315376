"""The model's own preprocessing layers, saved inside the `.keras` file.

Keras has no layer for "fill a missing value" or "log of a long-tailed
feature". A `Lambda` layer could do both, but it stores Python bytecode and
only loads with `safe_mode=False`, i.e. trusting the file like a pickle.
These two small layers are registered with Keras instead: the file stores
their name and config, and loading needs nothing but this module.

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
