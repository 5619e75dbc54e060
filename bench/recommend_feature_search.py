"""Tried and not adopted: extra ranker features, measured on the TUNING windows only (never the report ones).

    nice .venv/bin/python bench/recommend_feature_search.py     # ~1 min CPU once the tf-idf cache exists

For every tuning reader it computes the ranker's raw features (ranker.feature_matrix, with the simulated
past-week dismissals, as `--tune` does) plus candidate extras, then adds each extra alone to
DEFAULT_WEIGHTS at its best weight, and finally coordinate-searches all of them together.  Extras:
  tfidf_top3      mean of the 3 largest tf-idf cosines to likes
  emb_lse*/tf_lse*  soft maximum (log-mean-exp at temperature T) of the cosines to likes
  tf_typ/emb_typ  how typical the candidate is of this week's pool (reader-independent)
  emb_recent      embedding cosines with zotero's recency weights; tf_last5/emb_last5: newest 5 likes
  tf_consist*     Rocchio with each term weighted by the share of likes containing it (BM25-like emphasis)
  ridge*          closed-form kernel ridge on tf-idf, likes positive, 300 shared random negatives (the
                  cheap SVM-like margin term: the negatives' kernel rows are shared by every reader)
  prf_*           pseudo-relevance feedback: similarity to the first-stage top 5 / 10 candidates
Results are in bench/README.md "Recommendations" (tried and not adopted).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402

from bench.recommend_author_continuation import paper_features, past_week_dismissals  # noqa: E402
from bench.recommend_data import TUNE_CUTS, load_corpus, make_window  # noqa: E402
from bench.recommend_metrics import metrics, order  # noqa: E402
from paperfeed.recommend.ranker import DEFAULT_WEIGHTS, FEATURES, _weighted, feature_matrix, prepare  # noqa: E402


def collect(c, pf) -> list:
    rng = np.random.default_rng(0)
    cache = []
    t0 = time.time()
    for cut in TUNE_CUTS:
        w = make_window(c, cut)
        block = prepare(pf, w.candidates)
        ct = pf.tfidf[w.candidates]
        pool_t = np.asarray(ct.mean(axis=0)).ravel()
        typ_tf = ct @ pool_t
        pool_e = pf.vectors[w.candidates].mean(axis=0)
        typ_e = pf.vectors[w.candidates] @ pool_e
        negs = rng.choice(w.background, 300, replace=False)
        Xn = pf.tfidf[negs]
        Knn = (Xn @ Xn.T).toarray()
        Kcn = (ct @ Xn.T).toarray()
        cc_tf = (ct @ ct.T).toarray()
        cc_e = pf.vectors[w.candidates] @ pf.vectors[w.candidates].T
        np.fill_diagonal(cc_tf, 0)
        np.fill_diagonal(cc_e, 0)
        for r in w.readers:
            dis = past_week_dismissals(pf, c, w, r)
            raw, emb, tf = feature_matrix(pf, r.liked, dis, block)
            rel = np.isin(w.candidates, r.relevant)
            ex = {}
            n = len(r.liked)
            k = min(3, n)
            ex["tfidf_top3"] = np.partition(tf, n - k, axis=1)[:, -k:].mean(axis=1)
            for T in (0.05, 0.1):
                ex[f"emb_lse{T}"] = T * np.log(np.exp((emb - 1) / T).mean(axis=1))
                ex[f"tf_lse{T}"] = T * np.log(np.exp((tf - 1) / T).mean(axis=1))
            ex["tf_typ"] = typ_tf
            ex["emb_typ"] = typ_e
            rec = 1 / (1 + np.log10(np.arange(n, 0, -1, dtype=np.float32)))
            ex["emb_recent"] = emb @ (rec / rec.sum())
            last = min(5, n)
            ex["tf_last5"] = tf[:, -last:].mean(axis=1)
            ex["emb_last5"] = emb[:, -last:].mean(axis=1)
            L = pf.tfidf[r.liked]
            q = np.asarray(L.mean(axis=0)).ravel()
            df = np.asarray((L > 0).mean(axis=0)).ravel()
            for a in (1.0, 2.0):
                ex[f"tf_consist{a}"] = ct @ (q * df ** a)
            # kernel ridge on liked + shared negatives (tf-idf, linear kernel)
            Kll = (L @ L.T).toarray()
            Kln = (L @ Xn.T).toarray()
            K = np.block([[Kll, Kln], [Kln.T, Knn]])
            m = len(negs)
            y = np.concatenate([np.full(n, 1.0 / n), np.full(m, -1.0 / m)])
            for lam in (0.3, 3.0):
                alpha = np.linalg.solve(K + lam * np.eye(n + m), y)
                ex[f"ridge{lam}"] = np.hstack([tf, Kcn]) @ alpha
            # pseudo-relevance feedback on the first-stage score
            s0 = _weighted(raw, DEFAULT_WEIGHTS)
            top = order(s0)[:5]
            ex["prf_tf5"] = cc_tf[:, top].mean(axis=1)
            ex["prf_emb5"] = cc_e[:, top].mean(axis=1)
            top = order(s0)[:10]
            ex["prf_tf10"] = cc_tf[:, top].mean(axis=1)
            ex["prf_emb10"] = cc_e[:, top].mean(axis=1)
            cache.append((raw, {k2: v.astype(np.float32) for k2, v in ex.items()}, rel))
        print(cut, len(cache), f"{time.time() - t0:.0f}s", flush=True)
    return cache


def _z(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / sd if sd > 1e-12 else np.zeros_like(x)


def main() -> None:
    c = load_corpus()
    pf = paper_features(c)
    cache = collect(c, pf)
    extra = list(cache[0][1])
    names = list(FEATURES) + extra
    zs = [np.column_stack([_z(raw[:, j]) for j in range(raw.shape[1])] + [_z(ex[k]) for k in extra])
          for raw, ex, _ in cache]
    rels = [rel for _, _, rel in cache]

    def score(w: np.ndarray) -> float:
        return float(np.mean([metrics(z @ w, rel)[0] for z, rel in zip(zs, rels, strict=True)]))

    grid = (-1.0, -0.5, -0.25, 0.0, 0.125, 0.25, 0.5, 1.0, 2.0)
    base = np.array([DEFAULT_WEIGHTS.get(f, 0.0) for f in FEATURES] + [0.0] * len(extra))
    b = score(base)
    print(f"{len(cache)} tuning readers; DEFAULT_WEIGHTS nDCG@10 {b:.4f}")
    for j, f in enumerate(extra, start=len(FEATURES)):
        best = max((score(np.where(np.arange(len(names)) == j, v, base)), v) for v in grid)
        print(f"  + {f:14s} best {best[0]:.4f} at weight {best[1]}", flush=True)
    w, s = base.copy(), b
    for _ in range(2):
        for j in range(1, len(names)):
            for v in grid:
                t = w.copy()
                t[j] = v
                sc = score(t)
                if sc > s + 1e-4:
                    w, s = t, sc
    used = ", ".join(f"{n}={x}" for n, x in zip(names, w, strict=True) if x)
    print(f"all extras, coordinate search: {s:.4f} with {used}")


if __name__ == "__main__":
    main()
