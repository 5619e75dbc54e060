"""The map and active learning on a real slice of the corpus: 2,000 arXiv papers, real MiniLM vectors."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import SHARED, corpus_records

from paperfeed.recommend import PaperFeatures, fit_tfidf
from paperfeed.recommend.active import choose_to_rate
from paperfeed.recommend.map import build_map, load, save


@pytest.fixture(scope="module")
def corpus():
    records = corpus_records(2000)
    z = np.load(SHARED / "arxiv-cs-2025-2026.minilm.npz")
    pos = {pid: i for i, pid in enumerate(z["ids"].tolist())}
    records = [r for r in records if r["id"] in pos]
    vec = z["vectors"][[pos[r["id"]] for r in records]].astype(np.float32)
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    v, x = fit_tfidf([f"{r['title']}. {r['abstract']}" for r in records])
    pf = PaperFeatures(ids=[r["id"] for r in records], titles=[r["title"] for r in records], vectors=vec,
                       tfidf=x, categories=[tuple(r["categories"]) for r in records],
                       authors=[tuple(r["authors"]) for r in records])
    return records, pf, list(v.get_feature_names_out())


def test_map_is_deterministic_and_in_the_unit_square(corpus, tmp_path):
    _, pf, vocab = corpus
    a = build_map(pf.ids, pf.vectors, pf.tfidf, vocab, k=12)
    b = build_map(pf.ids, pf.vectors, pf.tfidf, vocab, k=12)
    assert np.array_equal(a.xy, b.xy) and np.array_equal(a.cluster, b.cluster) and a.labels == b.labels
    assert a.xy.shape == (len(pf.ids), 2) and a.xy.min() >= 0 and a.xy.max() <= 1
    assert len(set(a.cluster.tolist())) == 12 and all(a.labels)
    save(a, tmp_path / "map.npz")
    c = load(tmp_path / "map.npz")
    assert c.ids == a.ids and np.array_equal(c.xy, a.xy) and c.labels == a.labels


def test_cluster_labels_are_words_of_the_cluster_papers(corpus):
    records, pf, vocab = corpus
    m = build_map(pf.ids, pf.vectors, pf.tfidf, vocab, k=12)
    text = {r["id"]: f"{r['title']} {r['abstract']}".lower() for r in records}
    for c, label in enumerate(m.labels):
        members = m.in_cluster(c)
        words = label.split(", ")
        assert len(words) == 3
        for w in words:
            # the label word is far more common inside its cluster than in the corpus at large
            has = re.compile(rf"\b{re.escape(w)}\b").search
            inside = np.mean([bool(has(text[p])) for p in members])
            overall = np.mean([bool(has(t)) for t in text.values()])
            assert inside > 2 * overall, (label, w, inside, overall)


def test_a_cluster_is_a_coherent_region_of_the_map(corpus):
    _, pf, vocab = corpus
    m = build_map(pf.ids, pf.vectors, pf.tfidf, vocab, k=12)
    # points of one cluster sit closer to their own centre than to the others' on average
    own = np.linalg.norm(m.xy - m.centres[m.cluster], axis=1).mean()
    other = np.linalg.norm(m.xy - m.centres[(m.cluster + 1) % 12], axis=1).mean()
    assert own < other / 2
    # a box around a cluster's centre returns mostly that cluster's papers
    cx, cy = m.centres[0]
    got = m.in_region(cx - 0.03, cy - 0.03, cx + 0.03, cy + 0.03)
    assert got and np.mean([m.cluster[pf.index[p]] == 0 for p in got]) > 0.5
    assert m.in_region(1.5, 1.5, 2.0, 2.0) == []


def test_active_learning_picks_are_spread_and_never_repeat_likes(corpus):
    _, pf, vocab = corpus
    pool = pf.ids[:1500]
    cold = choose_to_rate(pf, pool, 8)
    assert len(cold) == len(set(cold)) == 8
    rows = pf.rows(cold)
    sims = pf.vectors[rows] @ pf.vectors[rows].T
    rand = np.random.default_rng(0).choice(len(pool), size=8, replace=False)
    rsims = pf.vectors[rand] @ pf.vectors[rand].T
    off = ~np.eye(8, dtype=bool)
    # more spread than a random set of the same size: lower largest and mean mutual cosine
    assert sims[off].max() < rsims[off].max() and sims[off].mean() < rsims[off].mean()
    m = build_map(pf.ids, pf.vectors, pf.tfidf, vocab, k=12)
    assert len({int(m.cluster[pf.index[p]]) for p in cold}) >= 5
    liked = pool[:3]
    warm = choose_to_rate(pf, pool, 8, liked=liked, dismissed=pool[3:4])
    assert len(warm) == 8 and not set(warm) & set(pool[:4])
    assert choose_to_rate(pf, pool, 0) == [] and choose_to_rate(pf, ["nope"], 3) == []
