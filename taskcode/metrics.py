"""The numbers every model is judged by, for the registry and the dashboard.

F1 is the macro average over people, also for two people: nobody is "the
positive class", each person's songs count as much as the other's. The
majority baseline ("always guess the person with the most songs") is the
floor any model must clear. Plain scikit-learn and numpy, no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)

ROC_POINTS = 101  # at most this many points per stored ROC curve


def macro_f1(people: Sequence[str], y_true: np.ndarray, y_pred: np.ndarray) -> float:
    labels = list(range(len(people)))
    return float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))


def classification_metrics(people: Sequence[str], y_true: np.ndarray, proba: np.ndarray) -> dict:
    """F1, precision, recall, ROC, confusion and accuracy of one model on one set.

    `proba` has one column per person (rows sum to 1); the guess is the
    person with the highest probability.
    """
    labels = list(range(len(people)))
    y_pred = proba.argmax(axis=1)
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    if len(people) == 2:
        auc = roc_auc_score(y_true, proba[:, 1])
    else:
        auc = roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=labels)
    curves = {}
    for index, name in enumerate(people):
        fpr, tpr, _ = roc_curve(y_true == index, proba[:, index])
        curves[name] = _thin_curve(fpr, tpr)
    return {
        "f1": macro_f1(people, y_true, y_pred),
        "f1_per_person": {name: float(f) for name, f in zip(people, f1)},
        "precision": {name: float(p) for name, p in zip(people, precision)},
        "recall": {name: float(r) for name, r in zip(people, recall)},
        "roc_auc": float(auc),
        "roc_curve": curves,
        "confusion": {
            "labels": list(people),
            "matrix": confusion_matrix(y_true, y_pred, labels=labels).astype(int).tolist(),
        },
        "accuracy": float(accuracy_score(y_true, y_pred)),
    }


def majority_f1(people: Sequence[str], y_train: np.ndarray, y_test: np.ndarray) -> float:
    """Macro-F1 on the test set of always guessing the most common training label."""
    most_common = int(np.bincount(y_train, minlength=len(people)).argmax())
    return macro_f1(people, y_test, np.full_like(y_test, most_common))


def _thin_curve(fpr: np.ndarray, tpr: np.ndarray) -> dict:
    """At most ROC_POINTS points, always keeping the first and the last."""
    if len(fpr) > ROC_POINTS:
        keep = np.unique(np.linspace(0, len(fpr) - 1, ROC_POINTS).round().astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return {"fpr": [round(float(x), 4) for x in fpr], "tpr": [round(float(y), 4) for y in tpr]}
