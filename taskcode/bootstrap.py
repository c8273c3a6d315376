"""A paired bootstrap of one model's macro-F1 minus another's on the same songs.

Retraining with another seed moves macro-F1 by a few hundredths on a test set
of a few hundred songs, so a higher F1 alone is no evidence. Both models are
scored on the same resampled songs each time (paired), which cancels the luck
of which songs are easy and leaves only the difference between the models.
Each resample is counted as a confusion matrix with numpy, never a call into
scikit-learn, so thousands of resamples take well under a second.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

CELLS_PER_CHUNK = 2_000_000  # resampled songs held in memory at once


@dataclass(frozen=True)
class Comparison:
    difference: float  # challenger F1 minus reference F1 on all the songs
    low: float  # 2.5th percentile of the resampled differences
    high: float  # 97.5th percentile
    probability: float  # share of resamples in which the challenger is better
    resamples: int

    def as_dict(self) -> dict:
        return asdict(self)


def compare(
    y_true: np.ndarray, challenger: np.ndarray, reference: np.ndarray, n_classes: int, *, resamples: int, seed: int
) -> Comparison:
    """Macro-F1 of `challenger` minus that of `reference` (predicted labels), resampled `resamples` times."""
    y_true, challenger, reference = (np.asarray(a, dtype=np.int64) for a in (y_true, challenger, reference))
    whole = np.arange(len(y_true))[None, :]
    difference = _macro_f1(y_true, challenger, whole, n_classes) - _macro_f1(y_true, reference, whole, n_classes)
    rng = np.random.default_rng(seed)
    chunk = max(1, CELLS_PER_CHUNK // max(1, len(y_true)))
    parts = []
    for start in range(0, resamples, chunk):
        rows = rng.integers(0, len(y_true), size=(min(chunk, resamples - start), len(y_true)))
        parts.append(_macro_f1(y_true, challenger, rows, n_classes) - _macro_f1(y_true, reference, rows, n_classes))
    resampled = np.concatenate(parts)
    low, high = np.percentile(resampled, [2.5, 97.5])
    return Comparison(float(difference[0]), float(low), float(high), float((resampled > 0).mean()), int(resamples))


def _macro_f1(y_true: np.ndarray, y_pred: np.ndarray, rows: np.ndarray, n_classes: int) -> np.ndarray:
    """Macro-F1 of each resample (a row of song indices), as scikit-learn's with zero_division=0."""
    count = len(rows)
    cells = (np.arange(count)[:, None] * n_classes + y_true[rows]) * n_classes + y_pred[rows]
    confusion = np.bincount(cells.ravel(), minlength=count * n_classes * n_classes)
    confusion = confusion.reshape(count, n_classes, n_classes)
    hits = np.diagonal(confusion, axis1=1, axis2=2)
    truth, guessed = confusion.sum(axis=2), confusion.sum(axis=1)
    denominator = truth + guessed
    f1 = np.divide(2 * hits, denominator, out=np.zeros(hits.shape), where=denominator > 0)
    return f1.mean(axis=1)
