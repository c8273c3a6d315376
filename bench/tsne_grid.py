"""Why openTSNE's lead over scikit-learn is about 2x here: the FFT grid, its cost and its accuracy.

    .venv/bin/python bench/tsne_grid.py [--points 20000]

Not part of `make bench`: it explains one of its figures. The points are
20 clusters in 16 dimensions, rectified like a ReLU layer (the shape of the
champion's last hidden layer for a class, without training one). The same
affinities (exact neighbours, perplexity 30) and PCA start are optimised the
way `embed.fit_map` does (250 early-exaggeration + 500 iterations, all
cores) with openTSNE's FFT gradients at grid spacing 1 (its default, ours)
and 2, and with its Barnes-Hut gradients. For each: seconds per phase, the
map's spread, its KL divergence, and how many of each point's 10 nearest
neighbours stay among its 10 nearest on the map.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main() -> None:
    from openTSNE import TSNEEmbedding, affinity
    from openTSNE.initialization import pca
    from sklearn.neighbors import NearestNeighbors

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20_000)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 2, (20, 16))
    hidden = np.maximum(0, centres[rng.integers(0, 20, args.points)] + rng.normal(0, 1.2, (args.points, 16)))
    cores = len(os.sched_getaffinity(0))
    affinities = affinity.PerplexityBasedNN(hidden, perplexity=30, method="exact", n_jobs=cores, random_state=42)
    start = pca(hidden, random_state=42)
    near = NearestNeighbors(n_neighbors=11).fit(hidden).kneighbors(hidden, return_distance=False)[:, 1:]

    print(f"{args.points:,} points, 16-D, 20 clusters, {cores} cores")
    print(f"{'gradients':<22} {'exaggerated':>11} {'then 500':>9} {'spread':>7} {'KL':>7} {'10-NN kept':>10}")
    for label, options in (
        ("FFT, grid spacing 1", {"negative_gradient_method": "fft"}),
        ("FFT, grid spacing 2", {"negative_gradient_method": "fft", "ints_in_interval": 2}),
        ("Barnes-Hut", {"negative_gradient_method": "bh"}),
    ):
        embedding = TSNEEmbedding(start, affinities, n_jobs=cores, random_state=42, **options)
        began = time.perf_counter()
        embedding = embedding.optimize(250, exaggeration=12, momentum=0.5)
        exaggerated = time.perf_counter() - began
        embedding = embedding.optimize(500, momentum=0.8)
        rest = time.perf_counter() - began - exaggerated
        xy = np.asarray(embedding)
        kept = NearestNeighbors(n_neighbors=11).fit(xy).kneighbors(xy, return_distance=False)[:, 1:]
        share = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(near, kept)])
        print(
            f"{label:<22} {exaggerated:>10.1f}s {rest:>8.1f}s {np.ptp(xy, axis=0).max():>7.0f} "
            f"{embedding.kl_divergence:>7.3f} {share:>10.1%}",
            flush=True,
        )


if __name__ == "__main__":
    main()
