"""The paired bootstrap the promotion gate relies on: it agrees with scikit-learn and cannot be fooled by ties."""

import numpy as np
import pytest

from taskcode.bootstrap import compare
from taskcode.metrics import macro_f1


def _labels(n=300, classes=2, seed=0):
    return np.random.default_rng(seed).integers(0, classes, size=n)


def _noisy(y, wrong, classes=2, seed=1):
    """y with a share `wrong` of the labels replaced by another class."""
    rng = np.random.default_rng(seed)
    flip = rng.random(len(y)) < wrong
    return np.where(flip, (y + rng.integers(1, classes, size=len(y))) % classes, y)


@pytest.mark.parametrize("classes", [2, 3])
def test_the_difference_on_all_songs_is_scikit_learns(classes):
    y = _labels(classes=classes)
    good, bad = _noisy(y, 0.1, classes), _noisy(y, 0.3, classes, seed=2)
    result = compare(y, good, bad, classes, resamples=1000, seed=42)
    people = [f"p{i}" for i in range(classes)]
    assert result.difference == pytest.approx(macro_f1(people, y, good) - macro_f1(people, y, bad))
    assert result.low <= result.difference <= result.high


def test_a_clearly_better_model_is_better_with_probability_one():
    y = _labels()
    result = compare(y, _noisy(y, 0.05), _noisy(y, 0.4, seed=2), 2, resamples=2000, seed=42)
    assert result.probability == 1.0 and result.low > 0 and result.resamples == 2000


def test_identical_predictions_are_never_better():
    y = _labels()
    same = _noisy(y, 0.2)
    result = compare(y, same, same.copy(), 2, resamples=1000, seed=42)
    assert (result.difference, result.low, result.high, result.probability) == (0.0, 0.0, 0.0, 0.0)


def test_a_class_nobody_predicts_or_holds_counts_zero_as_scikit_learn_does():
    y = np.array([0, 0, 1, 1, 0])
    result = compare(y, y, np.zeros_like(y), 3, resamples=1000, seed=1)
    people = ["a", "b", "c"]
    assert result.difference == pytest.approx(macro_f1(people, y, y) - macro_f1(people, y, np.zeros_like(y)))


def test_the_same_seed_gives_the_same_answer_and_another_seed_another():
    y = _labels()
    a, b = _noisy(y, 0.2), _noisy(y, 0.22, seed=3)
    first = compare(y, a, b, 2, resamples=1000, seed=7)
    assert compare(y, a, b, 2, resamples=1000, seed=7) == first
    other = compare(y, a, b, 2, resamples=1000, seed=8)
    assert other.difference == first.difference and (other.low, other.high) != (first.low, first.high)


def test_many_songs_are_resampled_in_chunks_with_the_same_answer(monkeypatch):
    from taskcode import bootstrap

    y = _labels(n=500)
    a, b = _noisy(y, 0.2), _noisy(y, 0.25, seed=3)
    whole = compare(y, a, b, 2, resamples=1000, seed=5)
    monkeypatch.setattr(bootstrap, "CELLS_PER_CHUNK", 500 * 7)  # 7 resamples a chunk
    chunked = compare(y, a, b, 2, resamples=1000, seed=5)
    assert chunked == whole
