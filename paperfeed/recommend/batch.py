"""Many readers against the same candidates at once: the digest's personal section for 100,000 members.

`recommend_many(signals_list, candidates, pf, limit)` returns, for every reader, exactly what
`ranker.recommend` returns for that reader alone (same picks, same order, same scores and reasons; the
test compares them on a few hundred readers).  It is `recommend` itself, given two hooks:

- the cosine matrices (`ranker.similarities`): for a block of readers, one sparse tf-idf product of
  the candidates with every distinct liked or dismissed paper of the block; each reader then takes its
  columns.  Readers share liked papers (a popular paper, a reading group's collection), so a block's
  distinct papers are far fewer than its likes.  Each entry of a sparse product is the same sum in the
  same order as in the reader's own product, so the features are bit for bit those of the per-reader
  path.  The dense embedding product stays per reader (see `_block_sims`).
- the follows (`ranker._follows`): the per-reader path walks every candidate's authors and categories
  in Python; here an inverted index (folded author / category -> candidates) finds the few candidates a
  reader's follows hit, and `_follows` is asked about those only, so hit lists and their order are the
  same.

Reasons are written for the shown picks only (`limit`), as in `recommend`.

Measured (bench/recommend_speed.py, one day's 622 candidates, BLAS single-threaded, 2026-12-02 at load
average 3.3 on 2 shared cores, so absolute figures are ~2x the idle ones in bench/README.md):
  real readers (200, median 17 likes): recommend 6.23 ms/reader median, recommend_many 2.93 ms mean;
  + 10 dismissals 8.13 -> 3.38; 5 likes 6.18 -> 1.93; 25 likes 7.36 -> 1.98; 100 likes 8.85 -> 4.62;
  200 likes 13.90 -> 12.32 (with many likes the per-reader work on the (candidates x likes) matrices
  dominates, and batching the product no longer helps).  So about 2-3x for typical readers: NOT yet the
  1.2 ms/reader the 100,000-digests-in-60-s target needs (idle, that is ~1.4 ms).
Where the rest goes (cProfile of recommend_many, 600 synthetic readers of tests/test_recommend_batch.py,
load ~15 so read proportions only): `_follows` on the hit candidates 40 % (readers following a prefix
such as `cs.*` hit nearly every candidate, and `_follows` walks each one's authors in Python), the
per-reader embedding product 8 %, z-scoring (`_standardise`, numpy reductions) ~10 %, `explain` for the
10 shown picks 7 %, `recommend`'s own per-candidate Python (drop set, keep mask, id lists) ~10 %.
Next steps, not done: vectorise z-scoring over the readers of a block (one (readers x candidates x
features) array), keep the follow kinds per candidate as arrays so `_follows` runs for the shown picks only.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence

import numpy as np

from paperfeed.recommend.features import PaperFeatures, fold_name
from paperfeed.recommend.ranker import (
    DEFAULT_WEIGHTS,
    Candidates,
    Pick,
    Sims,
    _follows,
    candidates_of,
    recommend,
)
from paperfeed.recommend.signals import Signals

BLOCK = 256  # readers per block: ~256 x 20 distinct likes x 622 candidates x 8 bytes = 25 MB of cosines


class FollowIndex:
    """Candidates by folded author name and by category, built once per `Candidates`."""

    def __init__(self, cs: Candidates, pf: PaperFeatures):
        self.by_author: dict[str, set[str]] = {}
        self.by_category: dict[str, set[str]] = {}
        for pid, row in zip(cs.ids, cs.block.rows, strict=True):
            for folded in pf.folded_authors[row]:
                self.by_author.setdefault(folded, set()).add(pid)
            for c in pf.categories[row]:
                self.by_category.setdefault(c, set()).add(pid)

    def candidates_hit(self, s: Signals) -> set[str]:
        """A superset of the candidate ids some follow of `s` hits (`_follows` decides exactly)."""
        hit: set[str] = set()
        for a in s.followed_authors:
            hit |= self.by_author.get(fold_name(a), set())
        for c in s.followed_categories:
            if c.endswith("*"):
                for name, ids in self.by_category.items():
                    if name.startswith(c[:-1]):
                        hit |= ids
            else:
                hit |= self.by_category.get(c, set())
        for ids in s.search_matches.values():
            hit |= ids
        return hit

    def follows(self, s: Signals, cand_ids: list[str], cand: np.ndarray, pf: PaperFeatures,
                ) -> dict[int, list[tuple[str, str]]]:
        """`ranker._follows`, asking it only about the candidates the index says may be hit."""
        hit = self.candidates_hit(s)
        if not hit:
            return {}
        pos = []
        for pid in hit:
            j = bisect.bisect_left(cand_ids, pid)  # cand_ids are sorted (candidates_of)
            if j < len(cand_ids) and cand_ids[j] == pid:
                pos.append(j)
        pos.sort()
        sub = _follows(s, [cand_ids[j] for j in pos], cand[pos], pf)
        return {pos[k]: hits for k, hits in sub.items()}


def _block_sims(pf: PaperFeatures, cs: Candidates, block: Sequence[Signals]):  # type: ignore[no-untyped-def]
    """`sims_of` for every reader of `block`: the products for the block's distinct papers, sliced."""
    ids = {lk.paper_id for s in block for lk in s.liked} | {p for s in block for p in s.dismissed}
    uniq = np.unique(pf.rows(sorted(ids)))
    tf_all = (pf.tfidf[uniq] @ cs.block.tfidf_t).T.toarray()  # (c, distinct papers)

    def emb(rows: np.ndarray) -> np.ndarray:
        # Per reader, as ranker.similarities does it: BLAS picks its kernel (gemv for one paper, small-
        # matrix kernels for a few) by shape, and they round differently in the last bit, so slicing
        # one block-wide product would not give the per-reader path's features bit for bit.  It is
        # the cheap half (~0.1 ms); the sparse tf-idf product is the one worth batching.
        return cs.block.vectors @ pf.vectors[rows].T

    def sims_of(liked: np.ndarray, dismissed: np.ndarray) -> Sims:
        lp = np.searchsorted(uniq, liked)
        if not len(dismissed):
            return emb(liked), tf_all[:, lp], None, None
        dp = np.searchsorted(uniq, dismissed)
        return emb(liked), tf_all[:, lp], emb(dismissed), tf_all[:, dp]

    return sims_of


def recommend_many(signals_list: Sequence[Signals], candidates: Sequence[str] | Candidates, pf: PaperFeatures,
                   limit: int | None = None, weights: Mapping[str, float] = DEFAULT_WEIGHTS,
                   follow_index: FollowIndex | None = None, block: int = BLOCK) -> list[list[Pick]]:
    """`[recommend(s, candidates, pf, limit, weights) for s in signals_list]`, batched (see the module doc).
    Pass `follow_index` (FollowIndex(candidates, pf)) when calling many times with the same candidates."""
    cs = candidates if isinstance(candidates, Candidates) else candidates_of(pf, candidates)
    index = follow_index or FollowIndex(cs, pf)
    out: list[list[Pick]] = []
    for i in range(0, len(signals_list), block):
        chunk = signals_list[i:i + block]
        sims_of = _block_sims(pf, cs, [s for s in chunk if s.liked])
        out.extend(recommend(s, cs, pf, limit, weights, sims_of=sims_of, follows_of=index.follows) for s in chunk)
    return out
