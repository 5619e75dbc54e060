"""The corpus side of the recommender, built once per corpus and shared by every reader.

Rows are papers; a reader's ranking reads only the rows of their liked, dismissed and candidate papers,
so one instance serves 100,000 readers.  Author names are held to honour follows and to write reasons;
they are never a similarity feature (on the author-continuation benchmark they give the answer away).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


def fold_name(name: str) -> str:
    """'José  Pérez-Ruiz' and 'jose perez ruiz' compare equal (the digest's rule)."""
    t = unicodedata.normalize("NFKD", name)
    t = "".join(c for c in t if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", t).split())


@dataclass
class PaperFeatures:
    ids: list[str]
    titles: list[str]
    vectors: np.ndarray  # (n, d) float32, L2-normalised sentence embeddings
    tfidf: sp.csr_matrix  # (n, V) float32, l2 rows (paperfeed.recommend.text)
    categories: list[tuple[str, ...]]
    authors: list[tuple[str, ...]]  # as written, for "by X, whom you follow"

    def __post_init__(self) -> None:
        n = len(self.ids)
        if not (self.vectors.shape[0] == self.tfidf.shape[0] == len(self.titles) == len(self.categories)
                == len(self.authors) == n):
            raise ValueError("PaperFeatures: every field must have one row per paper id")
        self.index = {pid: i for i, pid in enumerate(self.ids)}
        if len(self.index) != n:
            raise ValueError("PaperFeatures: paper ids must be unique")
        self.vectors = np.ascontiguousarray(self.vectors, dtype=np.float32)
        self.tfidf = self.tfidf.astype(np.float32).tocsr()
        # Background means: the "corpus as negatives" half of a per-reader linear model (see ranker.py).
        self.vector_background = self.vectors.mean(axis=0) if n else np.zeros(self.vectors.shape[1], np.float32)
        self.tfidf_background = (np.asarray(self.tfidf.mean(axis=0)).ravel().astype(np.float32) if n
                                 else np.zeros(self.tfidf.shape[1], np.float32))
        counts = Counter(c for cats in self.categories for c in set(cats))
        self.category_names = sorted(counts)
        self.category_rates = np.array([counts[c] / n for c in self.category_names], dtype=np.float32)
        code = {c: i for i, c in enumerate(self.category_names)}
        width = max((len(set(cats)) for cats in self.categories), default=0) or 1
        self.category_index = np.full((n, width), -1, dtype=np.int64)  # -1 pads; see ranker._category_scores
        for i, cats in enumerate(self.categories):
            uniq = sorted({code[c] for c in cats})
            self.category_index[i, : len(uniq)] = uniq
        self.folded_authors = [tuple(fold_name(a) for a in names) for names in self.authors]

    def rows(self, paper_ids: Sequence[str]) -> np.ndarray:
        """Row indexes of the ids this corpus knows, in the given order (unknown ids are skipped)."""
        return np.array([self.index[p] for p in paper_ids if p in self.index], dtype=np.int64)
