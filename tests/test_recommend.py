"""The recommender on a real slice of the corpus: 3,000 arXiv papers with their real MiniLM vectors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import SHARED, corpus_records

from paperfeed.recommend import Like, PaperFeatures, Signals, fit_tfidf, recommend, score_rows
from paperfeed.recommend.reasons import short


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


def neighbours(pf: PaperFeatures, pid: str, among: list[str]) -> list[str]:
    """`among` ordered by embedding cosine to `pid`, nearest first."""
    rows = pf.rows(among)
    sims = pf.vectors[rows] @ pf.vectors[pf.index[pid]]
    return [among[i] for i in np.argsort(-sims, kind="stable")]


def split(pf: PaperFeatures) -> tuple[list[str], list[str]]:
    """Candidates (every other paper) and the rest (what a reader may have liked or dismissed)."""
    return pf.ids[::2], pf.ids[1::2]


def rank_of(picks, pid: str) -> int:
    return [p.paper_id for p in picks].index(pid)


def test_a_like_pulls_its_nearest_papers_to_the_top(pf):
    cand, rest = split(pf)
    liked = rest[10]
    near = neighbours(pf, liked, cand)[:5]
    picks = recommend(Signals(liked=(Like(liked),)), cand, pf)
    top20 = {p.paper_id for p in picks[:20]}
    assert len(top20 & set(near)) >= 3
    # the same candidates rank far lower for a reader who liked an unrelated paper
    other = neighbours(pf, liked, rest)[-1]
    elsewhere = recommend(Signals(liked=(Like(other),)), cand, pf)
    assert np.mean([rank_of(elsewhere, p) for p in near]) > np.mean([rank_of(picks, p) for p in near]) + 200


def test_a_dismissal_pushes_similar_papers_down(pf):
    cand, rest = split(pf)
    liked = rest[10]
    base = recommend(Signals(liked=(Like(liked),)), cand, pf)
    target = base[0].paper_id
    # dismiss the paper (outside the candidates) that is closest to today's top pick
    dismissed = next(p for p in neighbours(pf, target, rest) if p != liked)
    after = recommend(Signals(liked=(Like(liked),), dismissed=(dismissed,)), cand, pf)
    assert rank_of(after, target) > rank_of(base, target)
    assert next(p.score for p in after if p.paper_id == target) < base[0].score
    # and a dismissed candidate never comes back
    gone = recommend(Signals(liked=(Like(liked),), dismissed=(target,)), cand, pf)
    assert target not in {p.paper_id for p in gone}


def test_dismissals_move_the_score_rows_used_by_the_benchmark(pf):
    cand, rest = split(pf)
    liked = pf.rows([rest[10], rest[20]])
    rows = pf.rows(cand)
    plain = score_rows(pf, liked, np.array([], dtype=np.int64), rows)
    top = rows[int(np.argmax(plain))]
    near_top = pf.rows([p for p in neighbours(pf, pf.ids[top], rest) if pf.index[p] not in set(liked)][:3])
    pushed = score_rows(pf, liked, near_top, rows)
    assert pushed[int(np.argmax(plain))] < plain[int(np.argmax(plain))]


def test_the_reason_names_the_liked_paper_a_pick_is_closest_to(pf):
    cand, rest = split(pf)
    a = rest[10]
    b = neighbours(pf, a, rest)[-1]  # the least similar paper to a: a second, separate interest
    signals = Signals(liked=(Like(a, "saved"), Like(b, "upvoted")))
    picks = {p.paper_id: p for p in recommend(signals, cand, pf)}
    near_a, near_b = neighbours(pf, a, cand)[0], neighbours(pf, b, cand)[0]
    assert picks[near_a].because == a
    assert picks[near_a].reason == f"because you saved \u201c{short(pf.titles[pf.index[a]])}\u201d"
    assert picks[near_b].because == b
    assert picks[near_b].reason.startswith("because you upvoted \u201c")


def test_three_close_papers_of_one_collection_are_named_together(pf):
    cand, rest = split(pf)
    seed = rest[10]
    group = neighbours(pf, seed, rest)[:3]
    candidate = neighbours(pf, seed, cand)[0]
    assert all(float(pf.vectors[pf.index[g]] @ pf.vectors[pf.index[candidate]]) >= 0.5 for g in group), \
        "fixture: the three liked papers must be close to the candidate"
    picks = {p.paper_id: p for p in recommend(
        Signals(liked=tuple(Like(g, "saved", "Reading group") for g in group)), cand, pf)}
    assert picks[candidate].reason == "like 3 papers in Reading group"


def test_follows_come_first_and_say_so(pf):
    cand, rest = split(pf)
    liked = rest[10]
    far = neighbours(pf, liked, cand)[-1]  # the candidate least like the reader's like
    author = pf.authors[pf.index[far]][0]
    picks = recommend(Signals(liked=(Like(liked),), followed_authors=(author.upper(),)), cand, pf)
    by_author = [p for p in picks if author in pf.authors[pf.index[p.paper_id]]]
    assert picks[0].paper_id in {p.paper_id for p in by_author}
    assert all(p.reason == f"by {author}, whom you follow" for p in by_author)
    searched = recommend(Signals(search_matches={"gaussian splatting": frozenset({far})}), cand, pf)
    assert searched[0].paper_id == far and searched[0].reason == "matches your search \u201cgaussian splatting\u201d"
    cat = pf.categories[pf.index[far]][0]
    followed = recommend(Signals(followed_categories=(cat.split(".")[0] + ".*",)), cand, pf)
    assert followed[0].reason.startswith("new in ") and followed[0].reason.endswith(", which you follow")


def test_liked_dismissed_excluded_and_unknown_papers_are_never_picked(pf):
    cand, rest = split(pf)
    liked, dismissed, shown = cand[0], cand[1], cand[2]
    picks = recommend(Signals(liked=(Like(liked), Like("9999.99999")), dismissed=(dismissed,),
                              exclude=frozenset({shown})), [*cand, "0000.00000"], pf)
    ids = {p.paper_id for p in picks}
    assert not ids & {liked, dismissed, shown, "0000.00000"}
    assert len(ids) == len(cand) - 3
    assert recommend(Signals(), cand, pf) == []


def test_the_ranking_is_deterministic_and_ignores_candidate_order(pf):
    cand, rest = split(pf)
    signals = Signals(liked=(Like(rest[10]), Like(rest[40], "saved")), dismissed=(rest[7],))
    first = recommend(signals, cand, pf, limit=50)
    assert recommend(signals, cand, pf, limit=50) == first
    shuffled = list(cand)
    np.random.default_rng(1).shuffle(shuffled)
    assert recommend(signals, shuffled, pf, limit=50) == first
    assert len(first) == 50 and [p.score for p in first] == sorted((p.score for p in first), reverse=True)


def test_features_must_line_up(pf):
    with pytest.raises(ValueError, match="one row per paper id"):
        PaperFeatures(ids=pf.ids[:10], titles=pf.titles[:10], vectors=pf.vectors[:9],
                      tfidf=sp.csr_matrix(pf.tfidf[:10]), categories=pf.categories[:10], authors=pf.authors[:10])
    with pytest.raises(ValueError, match="unique"):
        PaperFeatures(ids=[pf.ids[0]] * 2, titles=pf.titles[:2], vectors=pf.vectors[:2],
                      tfidf=sp.csr_matrix(pf.tfidf[:2]), categories=pf.categories[:2], authors=pf.authors[:2])
