"""The per-reader ranker: a reader's signals and a set of candidate papers -> scored picks with reasons.

Each candidate gets a few similarity features against the reader's liked and dismissed papers, each
feature is standardised over the candidates (z-score), and the score is a weighted sum:

  tfidf_rocchio  c . (mean tf-idf of likes - mean tf-idf of the corpus)
  tfidf_recent   the same with the newest likes weighted up (1 / (1 + log10(rank from newest)), the
                 decay zotero-arxiv-daily uses): what a reader liked lately says most about this week
  emb_rocchio    c . (mean embedding of likes - mean embedding of the corpus)
  tfidf_max      largest tf-idf cosine to one liked paper
  emb_max        largest embedding cosine to one liked paper
  emb_top3       mean of the three largest embedding cosines
  category       log of how much more often the reader's likes carry the candidate's category than
                 the corpus does (smoothed)
  dismissed_*    the same Rocchio and max-cosine terms against "not interested" papers (negative weights)

Why this shape: arxiv-sanity-lite trains one tf-idf `LinearSVC(C=0.01, class_weight="balanced")` per
reader with the whole corpus as negatives.  At C = 0.01 every training point sits inside the margin, so
the SVM's weight vector is (up to scale) the balanced difference of class means: the Rocchio term above.
Computing it in closed form gives the same ranking for a dot product instead of a fit (measured on the
benchmark: see bench/README.md "Recommendations"), which is what makes 100,000 readers affordable.
The nearest-liked-paper terms add what a mean loses (a reader with two separate interests); dismissed
papers enter as hard negatives of the same linear model.  The weights were tuned on the benchmark's
early cut dates only and are reported on later ones (bench/recommend_author_continuation.py).

Cost per reader (measured, bench/README.md): a few milliseconds for ~1,000 candidates and ~25 likes;
it is linear in candidates x likes.  No SQL, no I/O, deterministic: ties go to the smaller paper id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from paperfeed.recommend.features import PaperFeatures, fold_name
from paperfeed.recommend.reasons import explain
from paperfeed.recommend.signals import Signals

MAX_LIKES = 200  # newest likes kept: cost is linear in likes; 200 is ~8x the benchmark readers' median
FEATURES = ("tfidf_rocchio", "tfidf_recent", "emb_rocchio", "tfidf_max", "emb_max", "emb_top3", "category",
            "dismissed_tfidf_rocchio", "dismissed_emb_max")

# Tuned on TUNE_CUTS of the author-continuation benchmark (bench/recommend_author_continuation.py --tune).
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "tfidf_rocchio": 1.0, "tfidf_recent": 0.25, "emb_rocchio": 0.0, "tfidf_max": 0.25, "emb_max": 1.0,
    "emb_top3": 1.0, "category": 0.25, "dismissed_tfidf_rocchio": -0.25, "dismissed_emb_max": -0.25,
}
# Explicit follows: a followed author's or saved search's new paper comes before every similarity pick
# (it is what the reader asked for; among themselves they keep the similarity order).  A followed
# category is a broad wish: a bonus in z-score units, so a strong similarity pick can still beat it.
FIRST = ("author", "search")
CATEGORY_BONUS = 1.0


@dataclass(frozen=True)
class Pick:
    paper_id: str
    score: float
    reason: str
    because: str | None = None  # the liked paper the reason names, if any


def _standardise(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / sd if sd > 1e-12 else np.zeros_like(x)


@dataclass
class Block:
    """A set of candidate rows prepared once and shared by every reader ranked against it (a digest
    window, a daily list): the slices and the reader-independent terms of the features."""

    rows: np.ndarray
    vectors: np.ndarray
    tfidf_t: sp.csr_matrix  # (V, c): the candidates' tf-idf, transposed so liked rows multiply it directly
    tfidf_background: np.ndarray  # c . mean tf-idf of the corpus
    vector_background: np.ndarray
    category_index: np.ndarray  # (c, m) indexes into PaperFeatures.category_names, -1 padded


def prepare(pf: PaperFeatures, rows: np.ndarray) -> Block:
    rows = np.asarray(rows, dtype=np.int64)
    ct = pf.tfidf[rows]
    cv = pf.vectors[rows]
    return Block(rows, cv, ct.T.tocsr(), ct @ pf.tfidf_background, cv @ pf.vector_background, pf.category_index[rows])


# The four (candidates x papers) cosine matrices the features derive from: embedding and tf-idf cosines
# to the liked papers, then to the dismissed ones (None when there are none).  recommend/batch.py
# computes them for a block of readers at once and hands each reader its columns.
Sims = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]
SimsOf = Callable[[np.ndarray, np.ndarray], Sims]
FollowsOf = Callable[[Signals, list[str], np.ndarray, PaperFeatures], dict[int, list[tuple[str, str]]]]


def similarities(pf: PaperFeatures, liked: np.ndarray, dismissed: np.ndarray, block: Block) -> Sims:
    emb = block.vectors @ pf.vectors[liked].T  # (c, l)
    tf = (pf.tfidf[liked] @ block.tfidf_t).T.toarray()
    if not len(dismissed):
        return emb, tf, None, None
    return emb, tf, block.vectors @ pf.vectors[dismissed].T, (pf.tfidf[dismissed] @ block.tfidf_t).T.toarray()


def feature_matrix(pf: PaperFeatures, liked: np.ndarray, dismissed: np.ndarray, block: Block,
                   sims: Sims | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw features (candidates x FEATURES), plus the candidates' embedding and tf-idf cosines to each
    liked paper (kept to write reasons).  `liked` must be non-empty.  `sims`: the cosine matrices of
    `similarities`, when the caller has them already (batched readers).

    Every term derives from two (candidates x likes) similarity matrices: c . mean(likes) is the row
    mean of the cosines, so no vocabulary-sized vector is built per reader."""
    emb, tf, dis_emb, dis_tf = sims if sims is not None else similarities(pf, liked, dismissed, block)
    out = np.zeros((len(block.rows), len(FEATURES)), dtype=np.float32)
    n = len(liked)
    recency = 1 / (1 + np.log10(np.arange(n, 0, -1, dtype=np.float32)))  # liked is oldest first
    out[:, 0] = tf.mean(axis=1) - block.tfidf_background
    out[:, 1] = tf @ (recency / recency.sum()) - block.tfidf_background
    out[:, 2] = emb.mean(axis=1) - block.vector_background
    out[:, 3] = tf.max(axis=1)
    out[:, 4] = emb.max(axis=1)
    k = min(3, n)
    out[:, 5] = np.partition(emb, n - k, axis=1)[:, -k:].mean(axis=1)
    out[:, 6] = _category_scores(pf, liked, block)
    if dis_emb is not None and dis_tf is not None:
        out[:, 7] = dis_tf.mean(axis=1)
        out[:, 8] = dis_emb.max(axis=1)
    return out, emb, tf


def _category_scores(pf: PaperFeatures, liked: np.ndarray, block: Block) -> np.ndarray:
    """max over the candidate's categories of log(P(category | likes) / P(category)), smoothed."""
    n = len(liked)
    idx = pf.category_index[liked]
    counts = np.bincount(idx[idx >= 0], minlength=len(pf.category_names)).astype(np.float32)
    floor = np.float32(np.log(0.5 / (n + 1.0) / 0.05))  # a category no like carries: as one at a 5% rate
    lift = np.where(counts > 0, np.log((counts + 0.5) / (n + 1.0) / np.maximum(pf.category_rates, 1e-4)), floor)
    table = np.append(lift, floor)  # index -1 (padding) reads the floor
    return table[block.category_index].max(axis=1)


def score_rows(pf: PaperFeatures, liked: np.ndarray, dismissed: np.ndarray, cand: np.ndarray | Block,
               weights: Mapping[str, float] = DEFAULT_WEIGHTS) -> np.ndarray:
    """Similarity score of each candidate row (what the benchmark measures; no follows, no reasons)."""
    block = cand if isinstance(cand, Block) else prepare(pf, cand)
    if not len(liked) or not len(block.rows):
        return np.zeros(len(block.rows), dtype=np.float32)
    raw, _, _ = feature_matrix(pf, liked[-MAX_LIKES:], dismissed, block)
    return _weighted(raw, weights)


def _weighted(raw: np.ndarray, weights: Mapping[str, float]) -> np.ndarray:
    w = np.array([weights.get(f, 0.0) for f in FEATURES], dtype=np.float32)
    z = np.column_stack([_standardise(raw[:, j]) for j in range(raw.shape[1])])
    return z @ w


@dataclass
class Candidates:
    """Candidate papers prepared once (sorted ids the corpus knows, and their Block) for many readers."""

    ids: list[str]
    block: Block


def candidates_of(pf: PaperFeatures, paper_ids: Sequence[str]) -> Candidates:
    ids = sorted({p for p in paper_ids if p in pf.index})
    return Candidates(ids, prepare(pf, pf.rows(ids)))


def recommend(signals: Signals, candidates: Sequence[str] | Candidates, pf: PaperFeatures, limit: int | None = None,
              weights: Mapping[str, float] = DEFAULT_WEIGHTS, *, sims_of: SimsOf | None = None,
              follows_of: FollowsOf | None = None) -> list[Pick]:
    """Rank `candidates` for one reader, best first, each with the reason it was picked.

    Pass a `Candidates` (candidates_of) when ranking many readers against the same papers.  Candidates
    the reader liked, dismissed or must not see again (signals.exclude) are never picked, nor ids the
    corpus does not know.  A reader with no signal at all gets no picks (the caller shows a cold-start
    page instead of an arbitrary order).  `sims_of` and `follows_of` are recommend/batch.py's hooks:
    the same values as `similarities` and `_follows`, computed for many readers at once."""
    if signals.is_empty:
        return []
    cs = candidates if isinstance(candidates, Candidates) else candidates_of(pf, candidates)
    drop = set(signals.exclude) | set(signals.dismissed) | {lk.paper_id for lk in signals.liked}
    keep = np.array([p not in drop for p in cs.ids], dtype=bool)
    if not keep.any():
        return []
    cand_ids = [p for p, k in zip(cs.ids, keep, strict=True) if k]
    cand = cs.block.rows[keep]
    likes = [lk for lk in signals.liked if lk.paper_id in pf.index][-MAX_LIKES:]
    liked = pf.rows([lk.paper_id for lk in likes])
    dismissed = pf.rows(list(signals.dismissed))
    score = np.zeros(len(cand), dtype=np.float32)
    emb = tf = None
    if len(liked):
        raw, emb, tf = feature_matrix(pf, liked, dismissed, cs.block,
                                      sims_of(liked, dismissed) if sims_of is not None else None)
        raw, emb, tf = raw[keep], emb[keep], tf[keep]
        score += _weighted(raw, weights)
    follows = (follows_of or _follows)(signals, cand_ids, cand, pf)
    lift = float(score.max() - score.min()) + 1.0
    for j, hits in follows.items():
        kinds = {kind for kind, _ in hits}
        score[j] += (lift if kinds & set(FIRST) else 0.0) + (CATEGORY_BONUS if "category" in kinds else 0.0)
    order = np.lexsort((np.arange(len(cand_ids)), -score))  # cand_ids are sorted: ties go to the smaller id
    if limit is not None:
        order = order[:limit]
    return [Pick(cand_ids[j], float(score[j]),
                 *explain(j, likes, emb, tf, follows.get(j, []), pf)) for j in order]


def _follows(signals: Signals, cand_ids: list[str], cand: np.ndarray, pf: PaperFeatures,
             ) -> dict[int, list[tuple[str, str]]]:
    """Candidate position -> [(kind, what)] for followed authors, saved searches and categories."""
    authors = {fold_name(a): a for a in signals.followed_authors if fold_name(a)}
    exact = {c for c in signals.followed_categories if not c.endswith("*")}
    prefixes = tuple(c[:-1] for c in signals.followed_categories if c.endswith("*"))
    out: dict[int, list[tuple[str, str]]] = {}
    for j, (pid, row) in enumerate(zip(cand_ids, cand, strict=True)):
        hits: list[tuple[str, str]] = []
        for name, folded in zip(pf.authors[row], pf.folded_authors[row], strict=True):
            if folded in authors:
                hits.append(("author", name))
        hits.extend(("search", q) for q, ids in sorted(signals.search_matches.items()) if pid in ids)
        hits.extend(("category", c) for c in pf.categories[row] if c in exact or (prefixes and c.startswith(prefixes)))
        if hits:
            out[j] = hits
    return out
