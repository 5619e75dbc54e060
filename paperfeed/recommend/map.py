"""The map of the papers: embeddings -> 2-D coordinates, k-means clusters, cluster labels by top words.

Pure (arrays in, arrays out) plus `save`/`load` of the derived file, so it can be rebuilt from the
index at any time and written atomically beside it (paperfeed/diskio.py).

Why these choices: no UMAP/openTSNE/PaCMAP is installed in the shared environment, so the projection
is PCA to 2-D (sklearn, randomized solver with a fixed seed: deterministic, a few seconds for 74,728 x
384 on one core).  PCA alone crowds everything into one blob, so the layout is *cluster-anchored*:
k-means runs on the full embeddings (where clusters are real), each cluster's centre is placed by PCA
of the centres, and each point sits near its centre, offset by its own PCA coordinates scaled down.
Clusters therefore read as separate islands while neighbours inside one keep their relative layout.
Labels are the words whose mean tf-idf in the cluster most exceeds their corpus mean (author names are
not in the tf-idf: recommend/text.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import MiniBatchKMeans
from sklearn.decomposition import PCA

from paperfeed.diskio import atomic_replace_with

SEED = 0
LABEL_WORDS = 3


@dataclass
class PaperMap:
    ids: list[str]
    xy: np.ndarray  # (n, 2) float32, scaled into [0, 1] x [0, 1]
    cluster: np.ndarray  # (n,) int32
    centres: np.ndarray  # (k, 2) float32: where each cluster's label is drawn
    labels: list[str]  # one per cluster, its top words joined by ", "

    def in_region(self, x0: float, y0: float, x1: float, y1: float) -> list[str]:
        """Paper ids whose point lies in the rectangle (corners in either order): the onboarding's
        "pick a region you care about"."""
        lo_x, hi_x = sorted((x0, x1))
        lo_y, hi_y = sorted((y0, y1))
        m = (self.xy[:, 0] >= lo_x) & (self.xy[:, 0] <= hi_x) & (self.xy[:, 1] >= lo_y) & (self.xy[:, 1] <= hi_y)
        return [self.ids[i] for i in np.flatnonzero(m)]

    def in_cluster(self, k: int) -> list[str]:
        return [self.ids[i] for i in np.flatnonzero(self.cluster == k)]


def _unit(a: np.ndarray) -> np.ndarray:
    lo, hi = a.min(axis=0), a.max(axis=0)
    return ((a - lo) / np.where(hi - lo > 1e-12, hi - lo, 1.0)).astype(np.float32)


def cluster_labels(tfidf: sp.csr_matrix, cluster: np.ndarray, k: int, vocabulary: Sequence[str],
                   words: int = LABEL_WORDS) -> list[str]:
    """Each cluster's `words` terms with the largest (cluster mean - corpus mean) tf-idf; a bigram
    that contains an already chosen unigram (or the reverse) is skipped so labels are not repetitive."""
    x = tfidf.tocsr()
    overall = np.asarray(x.mean(axis=0)).ravel()
    out = []
    for c in range(k):
        rows = np.flatnonzero(cluster == c)
        if not len(rows):
            out.append("")
            continue
        lift = np.asarray(x[rows].mean(axis=0)).ravel() - overall
        chosen: list[str] = []
        for j in np.argsort(-lift, kind="stable")[:50]:
            w = vocabulary[j]
            if any(w in t.split() or t in w.split() for t in chosen):
                continue
            chosen.append(w)
            if len(chosen) == words:
                break
        out.append(", ".join(chosen))
    return out


def build_map(ids: Sequence[str], vectors: np.ndarray, tfidf: sp.csr_matrix, vocabulary: Sequence[str],
              k: int | None = None, spread: float = 0.35) -> PaperMap:
    """The map of `ids` (rows of `vectors` and `tfidf`).  `k` defaults to ~sqrt(n/2), capped at 40
    (beyond that labels overlap on a screen); `spread` is how far a point strays from its centre."""
    n = len(ids)
    if n < 3:
        raise ValueError("build_map: need at least 3 papers")
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    k = k or int(min(40, max(2, round((n / 2) ** 0.5))))
    k = min(k, n)
    km = MiniBatchKMeans(n_clusters=k, random_state=SEED, n_init=3, batch_size=4096).fit(v)
    cluster = km.labels_.astype(np.int32)
    pca = PCA(n_components=2, svd_solver="randomized", random_state=SEED).fit(v)
    own = pca.transform(v)
    centres_own = pca.transform(km.cluster_centers_)
    # the centres get their own PCA: spread by how the clusters differ, not by the corpus's main axis
    centre_xy = _unit(PCA(n_components=2, random_state=SEED).fit_transform(km.cluster_centers_) if k > 2
                      else centres_own)
    # a point's offset from its centre: its own PCA position relative to its cluster's, scaled so a
    # cluster spans about `spread` of the typical distance between centres
    offs = own - centres_own[cluster]
    scale = np.percentile(np.abs(offs), 95) or 1.0
    gap = 1.0 / max(2.0, k ** 0.5)
    xy = _unit(centre_xy[cluster] + offs / scale * gap * spread)
    centres = np.zeros((k, 2), dtype=np.float32)
    for c in range(k):
        rows = np.flatnonzero(cluster == c)
        if len(rows):
            centres[c] = np.median(xy[rows], axis=0)
    labels = cluster_labels(tfidf, cluster, k, vocabulary)
    return PaperMap(list(ids), xy, cluster, centres, labels)


def save(m: PaperMap, path: Path) -> None:
    """Atomic: a reader sees the old map or the new, never a torn file."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, ids=np.array(m.ids), xy=m.xy, cluster=m.cluster, centres=m.centres,
                     labels=np.array(m.labels))
    atomic_replace_with(path, write)


def load(path: Path) -> PaperMap:
    with np.load(path, allow_pickle=False) as z:
        return PaperMap(z["ids"].tolist(), z["xy"], z["cluster"], z["centres"], z["labels"].tolist())
