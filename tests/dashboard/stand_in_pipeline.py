"""A stand-in for the pipeline's train, embed and discover steps, for dashboard tests.

It writes what the real steps write (the contracts of `model_versions`,
`maps`/`map_points` and `discoveries`), computed honestly from the synced
data with small scikit-learn models instead of Keras, so the dashboard
tests need no TensorFlow and run in a second:

- two versions: 1 (`retired`, a weaker model on four features) and
  2 (`champion`, an MLP on every feature), each with metrics and baselines
  in the registry's JSON shape;
- one complete map per version: a point for every track with features,
  x/y the PCA of the MLP's hidden layer, probabilities in the order of the
  version's `people`, current owners, predicted = most probable person,
  confidence = its probability, out_of_place = predicted is not an owner;
- `discoveries` for the champion: each person's ten most probable songs of a
  small catalog nobody has liked;
- `runs` rows for sync, train and embed, with summaries.

`train_embed_discover` is the part to swap for the real `train`,
`evaluate_and_promote`, `embed` and `store_discoveries`; tests only rely on
what `describe` (in conftest.py) reads back from the database.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import warnings

import numpy as np
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score, confusion_matrix, f1_score, precision_score, recall_score, roc_auc_score, roc_curve,
)
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from taskcode.db import transaction
from taskcode.library import Library, generate

FEATURES = ("danceability", "energy", "loudness", "speechiness", "acousticness",
            "instrumentalness", "liveness", "valence", "tempo", "key", "mode")
WEAK_FEATURES = FEATURES[:4]
SEED = 7


def train_embed_discover(conn) -> None:
    """Everything after the sync: two versions, their maps, discoveries, runs."""
    now = dt.datetime.now(dt.timezone.utc)
    people, track_ids, X, owners = training_data(conn)

    weak = train(people, X[:, : len(WEAK_FEATURES)], owners, hidden=(4,), seed=1)
    v1 = register(conn, people, weak, status="retired", created_at=now - dt.timedelta(days=1),
                  decision="promoted: first champion", features=WEAK_FEATURES)
    record_run(conn, "train", "succeeded", now - dt.timedelta(days=1), {"version": v1, "f1": weak["metrics"]["f1"]})
    # The weak version's map was drawn a day ago, before the newest tenth of the songs arrived.
    older = np.arange(len(track_ids)) % 10 != 0
    write_map(conn, v1, people, weak, [t for t, keep in zip(track_ids, older) if keep],
              X[older, : len(WEAK_FEATURES)], [o for o, keep in zip(owners, older) if keep],
              created_at=now - dt.timedelta(days=1))

    strong = train(people, X, owners, hidden=(16,), seed=2)
    v2 = register(conn, people, strong, status="champion", created_at=now - dt.timedelta(hours=2),
                  decision=f"promoted: F1 {strong['metrics']['f1']:.3f} > {weak['metrics']['f1']:.3f}",
                  features=FEATURES)
    with transaction(conn) as cur:
        cur.execute("UPDATE model_versions SET status = 'retired' WHERE version = %s", (v1,))
        cur.execute("INSERT INTO model_aliases (alias, version) VALUES ('champion', %s) "
                    "ON CONFLICT (alias) DO UPDATE SET version = EXCLUDED.version, updated_at = now()", (v2,))
    record_run(conn, "train", "succeeded", now - dt.timedelta(hours=2),
               {"version": v2, "f1": strong["metrics"]["f1"], "promoted": True})
    points = write_map(conn, v2, people, strong, track_ids, X, owners, created_at=now - dt.timedelta(hours=1))
    record_run(conn, "embed", "succeeded", now - dt.timedelta(hours=1), {"version": v2, "points": points})
    write_discoveries(conn, v2, people, strong)


def simulate_crashed_embed(conn, version: int) -> None:
    """A newer map that never completed (the embed step died mid-way): readers must ignore it."""
    with transaction(conn) as cur:
        cur.execute("INSERT INTO maps (model_version, complete, params) VALUES (%s, false, %s) RETURNING map_id",
                    (version, json.dumps({"note": "crashed"})))
        map_id = cur.fetchone()[0]
        cur.execute(
            """INSERT INTO map_points (map_id, track_id, x, y, hidden, probabilities, owners,
                                       predicted, out_of_place, confidence)
               SELECT %s, track_id, 1000 + row_number() OVER (), 1000, '{0}', '{0.5,0.5}', '{}', 'nobody', false, 0.5
                 FROM tracks ORDER BY track_id LIMIT 5""",
            (map_id,),
        )
    record_run(conn, "embed", "failed", dt.datetime.now(dt.timezone.utc), {"error": "killed mid-way"})


# --------------------------------------------------------------------------


def sync_full_removes_two_likes(conn, library: Library) -> None:
    """What a `sync --full` leaves when the first person un-liked two songs on Spotify, and its run."""
    with transaction(conn) as cur:
        cur.execute(
            """UPDATE likes SET removed_at = now()
                WHERE (person_id, track_id) IN (
                      SELECT l.person_id, l.track_id FROM likes l JOIN people p USING (person_id)
                       WHERE p.name = (SELECT min(name) FROM people)
                       ORDER BY l.track_id LIMIT 2)"""
        )
    record_run(conn, "sync", "succeeded", dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=3),
               {"people": {p.name: {"new": len(library.likes_of(p.name))} for p in library.people},
                "features": {"wanted": len(library.tracks), "found": {"spotify": len(library.tracks)}}})


def training_data(conn):
    """People, and every track with features: ids, feature matrix, current owners."""
    with transaction(conn) as cur:
        cur.execute("SELECT name FROM people ORDER BY name")
        people = [row[0] for row in cur.fetchall()]
        cur.execute(
            f"""SELECT f.track_id, {', '.join('f.' + name for name in FEATURES)},
                       ARRAY(SELECT p.name FROM likes l JOIN people p USING (person_id)
                              WHERE l.track_id = f.track_id AND l.removed_at IS NULL ORDER BY p.name)
                  FROM audio_features f ORDER BY f.track_id"""
        )
        rows = cur.fetchall()
    track_ids = [row[0] for row in rows]
    X = np.array([[float(v) if v is not None else 0.0 for v in row[1:-1]] for row in rows])
    owners = [list(row[-1]) for row in rows]
    return people, track_ids, X, owners


def train(people, X, owners, *, hidden, seed):
    """Fit on songs with exactly one owner; evaluate on a held-out fifth of them."""
    started = time.perf_counter()
    single = np.array([len(o) == 1 for o in owners])
    y = np.array([people.index(o[0]) if len(o) == 1 else -1 for o in owners])
    X_train, X_test, y_train, y_test = train_test_split(
        X[single], y[single], test_size=0.2, stratify=y[single], random_state=SEED)
    model = make_pipeline(StandardScaler(), MLPClassifier(hidden, max_iter=300, random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
        baselines = {
            "logistic_regression": scores(make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
                                          people, X_train, y_train, X_test, y_test),
            "sklearn_mlp": scores(make_pipeline(StandardScaler(), MLPClassifier((32, 16), max_iter=300,
                                                                                 random_state=seed)),
                                  people, X_train, y_train, X_test, y_test),
        }
    metrics = evaluate(model, people, X_test, y_test)
    seconds = round(time.perf_counter() - started, 3)
    metrics["counts"] = {
        "train": int(len(y_train) * 0.85), "validation": len(y_train) - int(len(y_train) * 0.85),
        "test": len(y_test), "shared": int(sum(len(o) > 1 for o in owners)),
        "per_person": {p: int((y[single] == i).sum()) for i, p in enumerate(people)},
    }
    metrics["epochs"] = int(model[-1].n_iter_)
    metrics["training_seconds"] = seconds
    return {"model": model, "metrics": metrics, "baselines": baselines, "seconds": seconds}


def evaluate(model, people, X_test, y_test) -> dict:
    probabilities = model.predict_proba(X_test)
    predicted = probabilities.argmax(axis=1)
    labels = list(range(len(people)))
    majority = np.full_like(y_test, np.bincount(y_test).argmax())
    if len(people) == 2:
        auc = roc_auc_score(y_test, probabilities[:, 1])
    else:
        auc = roc_auc_score(y_test, probabilities, multi_class="ovr", average="macro")
    curves = {}
    for i, person in enumerate(people):
        fpr, tpr, _ = roc_curve(y_test == i, probabilities[:, i])
        curves[person] = {"fpr": [round(float(v), 4) for v in fpr], "tpr": [round(float(v), 4) for v in tpr]}
    per = lambda fn: dict(zip(people, (round(float(v), 4) for v in fn(y_test, predicted, labels=labels,  # noqa: E731
                                                                           average=None, zero_division=0))))
    return {
        "f1": round(float(f1_score(y_test, predicted, average="macro")), 4),
        "f1_per_person": per(f1_score),
        "precision": per(precision_score),
        "recall": per(recall_score),
        "roc_auc": round(float(auc), 4),
        "roc_curve": curves,
        "confusion": {"labels": people, "matrix": confusion_matrix(y_test, predicted, labels=labels).tolist()},
        "accuracy": round(float(accuracy_score(y_test, predicted)), 4),
        "majority_f1": round(float(f1_score(y_test, majority, average="macro", zero_division=0)), 4),
    }


def scores(model, people, X_train, y_train, X_test, y_test) -> dict:
    model.fit(X_train, y_train)
    full = evaluate(model, people, X_test, y_test)
    return {key: full[key] for key in ("f1", "roc_auc", "accuracy", "f1_per_person")}


def register(conn, people, trained, *, status, created_at, decision, features) -> int:
    config = {"stand_in": "scikit-learn MLPClassifier", "features": list(features),
              "hidden_layers": list(trained["model"][-1].hidden_layer_sizes)}
    with transaction(conn) as cur:
        cur.execute(
            """INSERT INTO model_versions (created_at, status, people, config, data_fingerprint, metrics,
                                           baselines, decision, training_seconds, artifact)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING version""",
            (created_at, status, people, json.dumps(config), "stand-in", json.dumps(trained["metrics"]),
             json.dumps(trained["baselines"]), decision, trained["seconds"], b"stand-in, not a Keras model"),
        )
        return cur.fetchone()[0]


def hidden_layer(model, X) -> np.ndarray:
    """The MLP's (only) hidden layer: relu(scaled X @ W + b)."""
    scaled = model[0].transform(X)
    mlp = model[-1]
    return np.maximum(scaled @ mlp.coefs_[0] + mlp.intercepts_[0], 0)


def write_map(conn, version, people, trained, track_ids, X, owners, *, created_at) -> int:
    """A complete map in one transaction; returns the number of points."""
    model = trained["model"]
    hidden = hidden_layer(model, X)
    xy = PCA(n_components=2, random_state=SEED).fit_transform(hidden)
    probabilities = model.predict_proba(X)
    rows = []
    for i, track_id in enumerate(track_ids):
        best = int(probabilities[i].argmax())
        predicted = people[best]
        rows.append((
            track_id, float(xy[i, 0]), float(xy[i, 1]), [round(float(v), 4) for v in hidden[i]],
            [float(p) for p in probabilities[i]], owners[i], predicted,
            bool(owners[i]) and predicted not in owners[i], float(probabilities[i, best]),
        ))
    with transaction(conn) as cur:
        cur.execute("INSERT INTO maps (model_version, created_at, updated_at, params) VALUES (%s, %s, %s, %s) "
                    "RETURNING map_id", (version, created_at, created_at, json.dumps({"stand_in": "PCA"})))
        map_id = cur.fetchone()[0]
        cur.executemany(
            """INSERT INTO map_points (map_id, track_id, x, y, hidden, probabilities, owners, predicted,
                                       out_of_place, confidence, placed)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'fit')""",
            [(map_id, *row) for row in rows],
        )
        cur.execute("UPDATE maps SET complete = true WHERE map_id = %s", (map_id,))
    return len(rows)


def write_discoveries(conn, version, people, trained, per_person: int = 10) -> None:
    """Each person's top songs of a small catalog that nobody here has liked."""
    catalog = generate(people=len(people), tracks=40, seed=SEED + 1)
    tracks = list(catalog.tracks.values())
    X = np.array([[float(t["features"][name]) for name in FEATURES] for t in tracks])
    probabilities = trained["model"].predict_proba(X)
    rows = []
    for i, person in enumerate(people):
        best = np.argsort(-probabilities[:, i], kind="stable")[:per_person]
        for rank, index in enumerate(best, start=1):
            track = tracks[index]
            rows.append((version, person, track["id"], track["name"],
                         ", ".join(a["name"] for a in track["artists"]),
                         float(probabilities[index, i]), rank))
    with transaction(conn) as cur:
        cur.executemany(
            """INSERT INTO discoveries (model_version, person, track_id, name, artists, probability, rank)
               VALUES (%s, %s, %s, %s, %s, %s, %s)""",
            rows,
        )


def record_run(conn, kind, status, started_at, summary) -> None:
    with transaction(conn) as cur:
        cur.execute(
            """INSERT INTO runs (kind, started_at, finished_at, status, summary)
               VALUES (%s, %s, %s + interval '42 seconds', %s, %s)""",
            (kind, started_at, started_at, status, json.dumps(summary)),
        )
