"""The baselines of issue 11, each as arxiv-sanity-lite / zotero-arxiv-daily do it, on one reader.

Every scorer takes (corpus, window, reader) and returns one score per window candidate.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from bench.recommend_data import Corpus, Reader, Window


def _labels(w: Window, r: Reader) -> np.ndarray:
    return np.isin(w.background, r.liked).astype(int)


def tfidf_svm(c: Corpus, w: Window, r: Reader) -> np.ndarray:
    """arxiv-sanity-lite serve.py: LinearSVC(class_weight='balanced', max_iter=10000, tol=1e-6, C=0.01)
    on tf-idf, the reader's papers positive and every other paper (here: listed before the cut) negative."""
    clf = LinearSVC(class_weight="balanced", max_iter=10000, tol=1e-6, C=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(c.tfidf[w.background], _labels(w, r))
    return clf.decision_function(c.tfidf[w.candidates])


def zotero_time_weighted(c: Corpus, w: Window, r: Reader) -> np.ndarray:
    """zotero-arxiv-daily recommender.py: library sorted newest first, weights 1/(1 + log10(rank + 1))
    normalised, score = weighted sum of cosine similarities to the library's papers."""
    lib = r.liked[::-1]  # newest first (liked is oldest first)
    wt = 1 / (1 + np.log10(np.arange(len(lib)) + 1))
    wt /= wt.sum()
    return (c.vectors[w.candidates] @ c.vectors[lib].T) @ wt


def centroid_cosine(c: Corpus, w: Window, r: Reader) -> np.ndarray:
    m = c.vectors[r.liked].mean(axis=0)
    return c.vectors[w.candidates] @ (m / np.linalg.norm(m))


def max_cosine(c: Corpus, w: Window, r: Reader) -> np.ndarray:
    return (c.vectors[w.candidates] @ c.vectors[r.liked].T).max(axis=1)


def embedding_logreg(c: Corpus, w: Window, r: Reader) -> np.ndarray:
    """scikit-learn's LogisticRegression (defaults: L2, C=1, lbfgs) on embeddings, balanced classes,
    likes positive, the corpus before the cut negative."""
    clf = LogisticRegression(class_weight="balanced", max_iter=1000)
    clf.fit(c.vectors[w.background], _labels(w, r))
    return clf.decision_function(c.vectors[w.candidates])


def rrf(*scores: np.ndarray, k: int = 60) -> np.ndarray:
    """Reciprocal rank fusion, 1/(k + rank) summed (rank 1 = best), as paperfeed's hybrid search."""
    total = np.zeros(len(scores[0]))
    for s in scores:
        ranks = np.empty(len(s))
        ranks[np.argsort(-s, kind="stable")] = np.arange(1, len(s) + 1)
        total += 1 / (k + ranks)
    return total


BASELINES = {
    "tf-idf LinearSVC (arxiv-sanity-lite)": tfidf_svm,
    "time-weighted mean cosine (zotero-arxiv-daily)": zotero_time_weighted,
    "centroid cosine": centroid_cosine,
    "max cosine": max_cosine,
    "logistic regression on embeddings": embedding_logreg,
}
