"""Why a song sits where it does: its nearest songs in the champion's hidden space.

The map is a 2-D picture of the hidden vectors; the songs nearest a song in
those vectors (not on the picture, where t-SNE bends distances) are the
model's own reading of "alike", and their owners say whose taste it is closest
to. Exact Euclidean search: the vectors of a last hidden layer are short.

A fresh map gets them from the neighbour search t-SNE runs anyway (`fit`); a
map that only gains songs keeps the known songs' neighbours and looks at the
new songs alone (`extend`), so a night with a few new songs costs a search
over those few, not over the whole map.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

COUNT = 5  # neighbours stored per song


def nearest(hidden: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k nearest other rows (positions, distances), nearest first; never the row itself."""
    k = min(k, len(hidden) - 1)
    if k <= 0:
        return np.empty((len(hidden), 0), dtype=int), np.empty((len(hidden), 0))
    distances, positions = NearestNeighbors(n_neighbors=k).fit(hidden).kneighbors()
    return positions, distances


def as_ids(positions: np.ndarray, track_ids: pd.Index) -> list[list[str]]:
    """Row positions -> track ids, one list per song (what the map's points store)."""
    ids = np.asarray(track_ids, dtype=object)
    return [list(ids[row]) for row in positions]


def extend(hidden: np.ndarray, track_ids: pd.Index, known: np.ndarray, stored: pd.Series) -> list[list[str]]:
    """Neighbours when new songs join a map: the known songs keep theirs unless a new song is nearer.

    `known` marks the rows already on the map, `stored` holds their neighbours
    (track ids, indexed by track id). A known song whose stored neighbours left
    the map, or that has fewer than it could have, is searched again in full.
    """
    n, k = len(hidden), min(COUNT, len(hidden) - 1)
    position = dict(zip(track_ids, range(n)))
    before = stored.to_dict()
    result = np.full((n, max(k, 0)), -1, dtype=int)
    for row in np.flatnonzero(known):
        found = [position.get(track_id, -1) for track_id in before.get(track_ids[row], ())]
        if len(found) == k:
            result[row] = found
    again = np.flatnonzero((result < 0).any(axis=1)) if k > 0 else np.empty(0, dtype=int)
    if len(again):
        index = NearestNeighbors().fit(hidden)
        _, candidates = index.kneighbors(hidden[again], min(k + 1, n))
        for row, near in zip(again, candidates):
            result[row] = [p for p in near if p != row][:k]
    new = np.flatnonzero(~known)
    kept = np.setdiff1d(np.flatnonzero(known), again)
    if len(new) and len(kept):
        _, closest_new = NearestNeighbors().fit(hidden[new]).kneighbors(hidden[kept], min(k, len(new)))
        candidates = np.hstack([result[kept], new[closest_new]])
        distances = np.linalg.norm(hidden[candidates] - hidden[kept][:, None, :], axis=2)
        order = np.argsort(distances, axis=1, kind="stable")[:, :k]
        result[kept] = np.take_along_axis(candidates, order, axis=1)
    return as_ids(result, track_ids)
