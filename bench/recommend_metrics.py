"""Ranking metrics for the author-continuation benchmark, and bootstrap intervals over readers."""

from __future__ import annotations

import numpy as np


def order(scores: np.ndarray) -> np.ndarray:
    """Candidate positions best first; ties broken by position (stable), so every run ranks the same."""
    return np.argsort(-scores, kind="stable")


def metrics(scores: np.ndarray, relevant: np.ndarray) -> tuple[float, float, float]:
    """nDCG@10 (binary gains), recall@50 and reciprocal rank of the first relevant candidate.

    `relevant` is a boolean mask over the same candidates as `scores`."""
    ranked = relevant[order(scores)]
    n_rel = int(relevant.sum())
    gains = ranked[:10] / np.log2(np.arange(2, 12))[: len(ranked[:10])]
    ideal = (1 / np.log2(np.arange(2, 2 + min(n_rel, 10)))).sum()
    hits = np.flatnonzero(ranked)
    return float(gains.sum() / ideal), float(ranked[:50].sum() / n_rel), float(1 / (hits[0] + 1))


def bootstrap(values: np.ndarray, n: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean and the 95% percentile interval of the mean, resampling readers with replacement."""
    rng = np.random.default_rng(seed)
    v = np.asarray(values, dtype=float)
    means = v[rng.integers(0, len(v), size=(n, len(v)))].mean(axis=1)
    return float(v.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def paired_bootstrap(a: np.ndarray, b: np.ndarray, n: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean of a - b per reader with its 95% interval: the two methods are measured on the same readers."""
    return bootstrap(np.asarray(a) - np.asarray(b), n, seed)
