"""recommend_many (the batched path of the digest) against recommend (the per-reader path): the same picks,
order, scores and reasons, on 3,000 real papers with their real MiniLM vectors and a few hundred readers
whose likes, dismissals, follows and exclusions overlap the way real ones do."""

from __future__ import annotations

import random

import numpy as np
import pytest
from conftest import SHARED, corpus_records

from paperfeed.recommend import Like, PaperFeatures, Signals, candidates_of, fit_tfidf, recommend
from paperfeed.recommend.batch import FollowIndex, recommend_many


@pytest.fixture(scope="module")
def pf() -> PaperFeatures:
    records = corpus_records(3000)
    z = np.load(SHARED / "arxiv-cs-2025-2026.minilm.npz")
    pos = {pid: i for i, pid in enumerate(z["ids"].tolist())}
    records = [r for r in records if r["id"] in pos]
    vec = z["vectors"][[pos[r["id"]] for r in records]].astype(np.float32)
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    _, x = fit_tfidf([f"{r['title']}. {r['abstract']}" for r in records])
    return PaperFeatures(ids=[r["id"] for r in records], titles=[r["title"] for r in records], vectors=vec,
                         tfidf=x, categories=[tuple(r["categories"]) for r in records],
                         authors=[tuple(r["authors"]) for r in records])


def readers(pf: PaperFeatures, cand: list[str], n: int, seed: int = 7) -> list[Signals]:
    rng = random.Random(seed)
    rest = pf.ids[1::2]
    pool = rng.sample(rest, 120)  # shared likes: readers overlap, as in a real store
    out = []
    for i in range(n):
        k = rng.choice([1, 2, 3, 5, 9, 17, 40])
        liked = tuple(Like(p, rng.choice(["upvoted", "saved"]), rng.choice([None, "Reading group"]))
                      for p in rng.sample(pool if i % 3 else rest, k))
        dismissed = tuple(rng.sample(rest, rng.choice([0, 0, 1, 4])))
        row = pf.index[rng.choice(cand)]
        authors = tuple(pf.authors[row][:1]) if i % 5 == 0 else ()
        cats = (("cs.CV",) if i % 7 == 0 else ()) + (("cs.*",) if i % 11 == 0 else ())
        searches = {"q": frozenset(rng.sample(cand, 4))} if i % 6 == 0 else {}
        exclude = frozenset(rng.sample(cand, 3)) if i % 4 == 0 else frozenset()
        if i % 13 == 0:
            liked = ()  # follows only
        out.append(Signals(liked=liked, dismissed=dismissed, followed_authors=authors, followed_categories=cats,
                           search_matches=searches, exclude=exclude))
    out.append(Signals())  # cold start
    return out


def test_batched_rankings_are_the_per_reader_rankings(pf):
    cand = pf.ids[::2][:700]
    cs = candidates_of(pf, cand)
    rs = readers(pf, cand, 300)
    batched = recommend_many(rs, cs, pf, limit=10, block=64)
    assert len(batched) == len(rs)
    assert batched[-1] == []
    with_follow_reasons = 0
    for s, got in zip(rs, batched, strict=True):
        want = recommend(s, cs, pf, limit=10)
        assert [p.paper_id for p in got] == [p.paper_id for p in want]
        assert got == want  # scores and reasons too, bit for bit
        with_follow_reasons += any("follow" in p.reason or "search" in p.reason for p in got)
        assert not {p.paper_id for p in got} & (set(s.exclude) | set(s.dismissed) | {lk.paper_id for lk in s.liked})
    assert with_follow_reasons > 30  # the follow index was exercised, not only the similarity hooks


def test_whole_ranking_not_only_top_k(pf):
    cand = pf.ids[::2][:400]
    rs = readers(pf, cand, 40, seed=3)
    for s, got in zip(rs, recommend_many(rs, cand, pf, limit=None, block=16), strict=True):
        assert got == recommend(s, cand, pf)


def test_follow_index_finds_what_the_walk_finds(pf):
    from paperfeed.recommend.ranker import _follows

    cand = pf.ids[::2][:500]
    cs = candidates_of(pf, cand)
    index = FollowIndex(cs, pf)
    rows = cs.block.rows
    for s in readers(pf, cand, 120, seed=5):
        assert index.follows(s, cs.ids, rows, pf) == _follows(s, cs.ids, rows, pf)
