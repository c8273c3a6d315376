"""The map: how the champion arranges songs, drawn in 2-D with t-SNE.

The champion's last hidden layer turns each song into a short vector; t-SNE
(openTSNE, FFT-accelerated) lays those vectors out on a plane so that songs
the network finds alike sit together. Coloured by person, it shows students
what the network learned, and the songs that sit among someone else's.

Stable by design: while the champion stays the same, the points people know
keep their coordinates and only new songs are placed into the map (openTSNE's
`transform`: each new song is optimised against the fixed map). A new
champion gets a fresh map, rotated to match the previous map's orientation,
so that a familiar picture does not flip over night.

A map and its points are written in one transaction: a reader sees the whole
map or the one before it, never half of one.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse
from openTSNE import TSNE, TSNEEmbedding
from openTSNE.affinity import Affinities, PerplexityBasedNN, joint_probabilities_nn
from openTSNE.nearest_neighbors import PrecomputedNeighbors
from sklearn.neighbors import NearestNeighbors

from taskcode import dataset, neighbours, registry, store
from taskcode.config import MapSettings, Settings
from taskcode.db import transaction
from taskcode.errors import DataError
from taskcode.model import hidden_model, model_inputs, probabilities
from taskcode.runs import recorded

log = logging.getLogger(__name__)
EMBED_LOCK = 73013  # one embed at a time: two would place the same new songs twice


@dataclass
class MapResult:
    version: int
    map_id: int
    points: int
    fitted: int
    placed: int
    out_of_place: int
    seconds: float

    def as_dict(self) -> dict:
        return dict(vars(self))


def embed(settings: Settings, conn, *, fresh: bool = False) -> MapResult:
    """Bring the champion's map up to date: new songs placed into it, or (first time, fresh) a new map."""
    with recorded(conn, "embed") as run:
        result = _embed(settings, conn, fresh)
        run.summary = result.as_dict()
    return result


def _embed(settings: Settings, conn, fresh: bool) -> MapResult:
    started = time.perf_counter()
    champion = registry.champion(conn)
    if champion is None:
        raise DataError("no champion model yet, so there is nothing to map; run: python -m taskcode train")
    frame = dataset.feature_frame(conn)
    if frame.empty:
        raise DataError("no track has audio features yet; run: python -m taskcode sync")
    with transaction(conn) as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (EMBED_LOCK,))
    try:
        model = registry.load_model(conn, champion.version)
        hidden = _predict(hidden_model(model), model, frame)
        proba = probabilities(model, frame)
        existing = None if fresh else _current_points(conn, champion.version)
        if existing is None:
            xy, near = _fit(hidden, settings.map, previous=_previous_map(conn, frame.index))
            nearest = neighbours.as_ids(near[:, : neighbours.COUNT], frame.index)
            placed, fitted, new = pd.Series("fit", index=frame.index), len(frame), 0
        else:
            xy, placed, new = _extend(existing, frame.index, hidden, settings.map)
            known = frame.index.isin(existing.index)
            nearest = neighbours.extend(hidden, frame.index, known, existing["neighbours"])
            fitted = 0
        points = _points(frame, champion.people, hidden, proba, xy, placed)
        points["neighbours"] = nearest
        map_id = _write(conn, champion.version, points, settings.map)
    finally:
        with transaction(conn) as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (EMBED_LOCK,))
    result = MapResult(
        version=champion.version,
        map_id=map_id,
        points=len(points),
        fitted=fitted,
        placed=new,
        out_of_place=int(points["out_of_place"].sum()),
        seconds=round(time.perf_counter() - started, 2),
    )
    log.info(
        "map of model %d: %d points (%d fitted, %d new placed), %d out of place, %.1f s",
        result.version,
        result.points,
        result.fitted,
        result.placed,
        result.out_of_place,
        result.seconds,
    )
    return result


# -- t-SNE ------------------------------------------------------------------------


def fit_map(hidden: np.ndarray, params: MapSettings, previous: pd.DataFrame | None = None) -> np.ndarray:
    """A fresh 2-D t-SNE of the hidden vectors (n, k) -> (n, 2)."""
    return _fit(hidden, params, previous)[0]


def _fit(hidden: np.ndarray, params: MapSettings, previous: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """The fresh map, and each song's nearest songs in hidden space (row positions, nearest first).

    With the exact search, t-SNE's own neighbour search is done here and
    handed to openTSNE, so the songs' nearest songs cost nothing more.
    """
    n = len(hidden)
    if n < 4:
        return _tiny_layout(n), neighbours.nearest(hidden, neighbours.COUNT)[0]
    perplexity = min(params.perplexity, (n - 1) / 3)
    if _neighbour_search(hidden) == "exact":
        near, distances = neighbours.nearest(hidden, max(int(3 * perplexity), neighbours.COUNT))
        affinities = PerplexityBasedNN(
            perplexity=perplexity, knn_index=PrecomputedNeighbors(near, distances), n_jobs=_cores()
        )
    else:
        near, affinities = neighbours.nearest(hidden, neighbours.COUNT)[0], None
    # openTSNE runs 250 early-exaggeration iterations before map.n_iter normal ones.
    with _Progress(
        "map: t-SNE", params.n_iter + 250, f"250 early exaggeration + map.n_iter {params.n_iter}"
    ) as progress:
        embedding = TSNE(
            perplexity=perplexity,
            n_iter=params.n_iter,
            random_state=params.seed,
            n_jobs=_cores(),
            neighbors=_neighbour_search(hidden),
            callbacks=progress.callback,
            callbacks_every_iters=25,
            verbose=False,
        ).fit(hidden, affinities=affinities)
    xy = np.asarray(embedding, dtype=float)
    if previous is not None and len(previous) >= 3:
        xy = _align(xy, previous)
    return xy, near


def _neighbour_search(hidden: np.ndarray) -> str:
    """Exact neighbours (scikit-learn) for narrow hidden layers, else openTSNE's choice (Annoy).

    t-SNE starts from each song's 90 nearest songs (3 x perplexity). For the
    short vectors of a last hidden layer (16 numbers by default) the exact
    search is faster than openTSNE's approximate default and exact by
    definition: 17 s instead of 38 s for 88k songs on 2 cores
    (`bench/tsne.py`). Wide layers or huge maps keep the approximate search,
    whose cost grows more slowly.
    """
    return "exact" if hidden.shape[1] <= 32 and len(hidden) <= 200_000 else "auto"


def place_new(
    reference_hidden: np.ndarray, reference_xy: np.ndarray, new_hidden: np.ndarray, params: MapSettings
) -> np.ndarray:
    """Coordinates for new songs in a fixed map (openTSNE's transform)."""
    if len(new_hidden) == 0:
        return np.empty((0, 2))
    affinities = ReferenceNeighbours(reference_hidden)
    # The forces from the map's songs go through openTSNE's FFT grid. Left to itself
    # ("auto"), openTSNE picks Barnes-Hut for a few new songs and then builds a tree
    # of the whole map in every one of its 250 iterations: 25 s for 1,000 songs in
    # an 88k map on 2 cores, against 1.7 s with the grid (`bench/tsne.py`).
    method = "fft" if len(reference_hidden) >= 10_000 else "auto"
    embedding = TSNEEmbedding(
        np.array(reference_xy, dtype=float),
        affinities,
        random_state=params.seed,
        n_jobs=_cores(),
        negative_gradient_method=method,
    )
    shift = (reference_xy.max(axis=0) + reference_xy.min(axis=0)) / 2  # transform centres the map; undo it
    placed = embedding.transform(new_hidden, perplexity=min(5, (len(reference_hidden) - 1) / 3))
    return np.asarray(placed, dtype=float) + shift


class ReferenceNeighbours(Affinities):
    """Affinities of new songs to the map's songs: all that placing new songs needs.

    openTSNE's PerplexityBasedNN would first recompute every affinity among the
    map's own songs (about a minute at 100k songs); placing new songs only needs
    each new song's nearest songs in the map (openTSNE accepts any Affinities).
    """

    def __init__(self, reference: np.ndarray):
        super().__init__()
        self.reference_count = len(reference)
        self.index = NearestNeighbors().fit(reference)
        # openTSNE checks the shape of P; the map's own affinities are never used again.
        self.P = scipy.sparse.csr_matrix((self.reference_count, self.reference_count))

    @property
    def n_samples(self):
        return self.reference_count

    def to_new(self, data, perplexity=5, return_distances=False):
        k = int(min(self.reference_count, max(3 * perplexity, 25)))
        distances, neighbors = self.index.kneighbors(np.asarray(data, dtype=float), k)
        P = joint_probabilities_nn(
            neighbors,
            distances,
            [perplexity],
            symmetrize=False,
            normalization="point-wise",
            n_reference_samples=self.reference_count,
            n_jobs=_cores(),
        )
        return (P, neighbors, distances) if return_distances else P


def _align(xy: np.ndarray, previous: pd.DataFrame) -> np.ndarray:
    """Rotate/reflect and scale a fresh map onto the previous one (orthogonal Procrustes)."""
    from scipy.linalg import orthogonal_procrustes

    mask = previous["present"].to_numpy()
    ours, theirs = xy[mask], previous.loc[previous["present"], ["x", "y"]].to_numpy(dtype=float)
    ours_c, theirs_c = ours - ours.mean(axis=0), theirs - theirs.mean(axis=0)
    rotation, _ = orthogonal_procrustes(ours_c, theirs_c)
    scale = np.linalg.norm(theirs_c) / max(np.linalg.norm(ours_c), 1e-12)
    return (xy - ours.mean(axis=0)) @ rotation * scale + theirs.mean(axis=0)


def _tiny_layout(n: int) -> np.ndarray:
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.column_stack([np.cos(angles), np.sin(angles)])


def _cores() -> int:
    import os

    return max(1, len(os.sched_getaffinity(0)))


class _Progress:
    """A progress bar on a terminal, a log line every 100 iterations otherwise."""

    def __init__(self, label: str, total: int, made_of: str = ""):
        self.label, self.total, self.made_of, self.bar = label, total, made_of, None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=label, unit=" it", file=sys.stderr, leave=False)
        self.done = 0

    def callback(self, iteration, error, embedding):
        step = 25
        self.done += step
        if self.bar is not None:
            self.bar.update(step)
        elif self.done % 100 == 0:
            made_of = f" ({self.made_of})" if self.made_of else ""
            log.info("%s: %d of %d iterations%s, KL divergence %.3f", self.label, self.done, self.total, made_of, error)
        return False  # never stop early

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()


# -- the rows ------------------------------------------------------------------------------


def _predict(last_hidden, model, frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(last_hidden.predict(model_inputs(model, frame), verbose=0, batch_size=2048))


def _points(frame, people, hidden, proba, xy, placed) -> pd.DataFrame:
    """One row per track: where it sits, what the model thinks, and whether that is surprising."""
    people = list(people)
    favourite = np.asarray(people, dtype=object)[proba.argmax(axis=1)]
    confidence = proba.max(axis=1)
    owners = frame["owners"].tolist()
    # Out of place: nobody who likes it is the model's favourite (songs nobody likes any more: not judged).
    out = np.array([bool(o) and fav not in o for o, fav in zip(owners, favourite)])
    return pd.DataFrame(
        {
            "track_id": frame.index,
            "x": xy[:, 0],
            "y": xy[:, 1],
            "hidden": list(np.round(hidden, 5).astype(np.float32)),
            "probabilities": list(np.round(proba, 5).astype(np.float32)),
            "owners": owners,
            "predicted": favourite,
            "out_of_place": out,
            "confidence": confidence.astype(float),
            "placed": placed.reindex(frame.index).to_numpy(),
        }
    )


def _current_points(conn, version: int) -> pd.DataFrame | None:
    """The newest complete map of this model version, or None."""
    with transaction(conn) as cur:
        cur.execute(
            """SELECT map_id FROM maps WHERE model_version = %s AND complete
                ORDER BY map_id DESC LIMIT 1""",
            (version,),
        )
        row = cur.fetchone()
        if row is None:
            return None
        cur.execute("SELECT track_id, x, y, hidden, placed, neighbours FROM map_points WHERE map_id = %s", (row[0],))
        rows = cur.fetchall()
    frame = pd.DataFrame(rows, columns=["track_id", "x", "y", "hidden", "placed", "neighbours"]).set_index("track_id")
    frame.attrs["map_id"] = row[0]
    return frame


def _extend(existing: pd.DataFrame, track_ids: pd.Index, hidden: np.ndarray, params: MapSettings):
    """Keep every known point where it is; place the new songs into the map."""
    known = track_ids.isin(existing.index)
    xy = np.empty((len(track_ids), 2))
    kept = existing.loc[track_ids[known]]
    xy[known] = kept[["x", "y"]].to_numpy(dtype=float)
    placed = pd.Series(kept["placed"].to_numpy(), index=track_ids[known]).reindex(track_ids)
    if (~known).any():
        reference = np.vstack(existing["hidden"].to_numpy()).astype(float)
        xy[~known] = place_new(reference, existing[["x", "y"]].to_numpy(dtype=float), hidden[~known], params)
        placed[~known] = "transform"
    return xy, placed, int((~known).sum())


def _previous_map(conn, track_ids: pd.Index) -> pd.DataFrame | None:
    """The newest complete map of any earlier version, aligned to these tracks (for orientation)."""
    with transaction(conn) as cur:
        cur.execute("SELECT map_id FROM maps WHERE complete ORDER BY map_id DESC LIMIT 1")
        row = cur.fetchone()
        if row is None:
            return None
        cur.execute("SELECT track_id, x, y FROM map_points WHERE map_id = %s", (row[0],))
        old = pd.DataFrame(cur.fetchall(), columns=["track_id", "x", "y"]).set_index("track_id")
    aligned = old.reindex(track_ids)
    aligned["present"] = aligned["x"].notna()
    return aligned


def _write(conn, version: int, points: pd.DataFrame, params: MapSettings) -> int:
    """The whole map in one transaction, marked complete in the same one."""
    with transaction(conn) as cur:
        return store.save_map(
            cur, version, {"perplexity": params.perplexity, "n_iter": params.n_iter, "seed": params.seed}, points
        )
