"""Permutation importance: which signal group tells the people apart.

Shuffle one group's columns across the test songs (the songs keep everything
else) and measure the trained model again: the drop in macro-F1 is what that
group contributes which no other group can make up for. A group the model
ignores, or one whose information another group repeats, drops by about 0.
The columns of a group move together, so the group stays a plausible song's.

Every shuffled copy of the test set goes through one batched prediction per
repeat, via the same `model_inputs`/`probabilities` path as the metrics.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from taskcode.metrics import macro_f1
from taskcode.model import ARTIST_IDS, probabilities
from taskcode.schema import BY_NAME

REPEATS = 5


def groups(model) -> dict[str, list[str]]:
    """The signal groups (schema's `signal`, plus `artists`) the model takes, with their input columns."""
    found: dict[str, list[str]] = {}
    for tensor in model.inputs:
        if tensor.name == ARTIST_IDS:
            found.setdefault("artists", []).append(ARTIST_IDS)
        elif tensor.name in BY_NAME:
            found.setdefault(BY_NAME[tensor.name].signal, []).append(tensor.name)
    return found


def permutation_importance(
    model, people: Sequence[str], test: pd.DataFrame, seed: int, repeats: int = REPEATS
) -> dict[str, dict[str, float]]:
    """{group: {"f1_drop": mean drop of test macro-F1, "std": its spread over the repeats}}."""
    columns = groups(model)
    y_true = test["label"].to_numpy(dtype="int64")
    n = len(test)
    rng = np.random.default_rng(seed)
    base = macro_f1(people, y_true, probabilities(model, test).argmax(axis=1))
    drops = {group: [] for group in columns}
    for _ in range(repeats):
        shuffled = [_shuffled(test, names, rng.permutation(n)) for names in columns.values()]
        guesses = probabilities(model, pd.concat(shuffled)).argmax(axis=1)
        for index, group in enumerate(columns):
            drops[group].append(base - macro_f1(people, y_true, guesses[index * n : (index + 1) * n]))
    return {
        group: {"f1_drop": round(float(np.mean(values)), 4), "std": round(float(np.std(values)), 4)}
        for group, values in drops.items()
    }


def _shuffled(test: pd.DataFrame, names: list[str], order: np.ndarray) -> pd.DataFrame:
    """The test songs with the columns `names` taken, together, from the songs in `order`."""
    copy = test.copy()
    for name in names:
        copy[name] = test[name].to_numpy()[order]
    return copy
