"""Cold start: does rating active.choose_to_rate's k picks teach the ranker more than rating k random ones?

    nice .venv/bin/python bench/recommend_active.py [--readers 60]

Readers are the author-continuation readers of the report windows (bench/recommend_data.py; the same
seeded sample per window as bench/recommend_author_continuation.py).  Each starts cold: 0 likes, or 1 like
(their newest paper before the cut).  The rest of their papers before the cut are held out and define a
simulated oracle that answers "do you like this?" for each paper offered:

  own    likes a pick iff it is one of their held-out papers (strict; rare hits).
  close  likes a pick iff it is one of them or its embedding cosine to the nearest one is >= CLOSE
         (a paper on the same topic as their own work).

The pool offered for rating is every paper listed in the POOL_DAYS before the cut.  A pick the oracle does
not like counts as "not interested".  After rating, the week's candidates are ranked with the likes and
dismissals (ranker.score_rows) and scored with nDCG@10 against the reader's own papers of the week.
Random picks are seeded per reader; both arms see the same readers, so differences are paired.
Writes bench/out/recommend_active.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench.recommend_author_continuation import paper_features, sample  # noqa: E402
from bench.recommend_data import OUT, REPORT_CUTS, load_corpus, make_window  # noqa: E402
from bench.recommend_metrics import bootstrap, metrics, paired_bootstrap  # noqa: E402
from paperfeed.recommend.active import choose_to_rate  # noqa: E402
from paperfeed.recommend.ranker import score_rows  # noqa: E402

POOL_DAYS = 30
CLOSE = 0.7


def oracle_likes(pf, picks: np.ndarray, held: np.ndarray, kind: str) -> np.ndarray:
    own = np.isin(picks, held)
    if kind == "own" or not len(held) or not len(picks):
        return own
    near = (pf.vectors[picks] @ pf.vectors[held].T).max(axis=1)
    return own | (near >= CLOSE)


def after_rating(pf, seed: np.ndarray, picks: np.ndarray, liked_mask: np.ndarray, cand: np.ndarray,
                 rel: np.ndarray) -> float:
    liked = np.concatenate([seed, picks[liked_mask]]).astype(np.int64)
    dismissed = picks[~liked_mask].astype(np.int64)
    return metrics(score_rows(pf, liked, dismissed, cand), rel)[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--readers", type=int, default=60, help="readers sampled per report window")
    args = ap.parse_args()
    load = os.getloadavg()
    t0 = time.perf_counter()
    c = load_corpus()
    pf = paper_features(c)
    res: dict[str, list[float]] = {}
    hits: dict[str, list[int]] = {}
    cpu: list[float] = []
    n_readers = 0
    for cut in REPORT_CUTS:
        w = make_window(c, cut)
        lo = np.datetime64(cut - timedelta(days=POOL_DAYS))
        pool = w.background[c.dates[w.background] >= lo]
        for r in sample(w, args.readers):
            n_readers += 1
            rel = np.isin(w.candidates, r.relevant)
            rng = np.random.default_rng(int(hashlib.sha1(f"{cut} {r.name}".encode()).hexdigest()[:8], 16))
            res.setdefault("all likes (ceiling)", []).append(
                metrics(score_rows(pf, r.liked, np.array([], np.int64), w.candidates), rel)[0])
            for n_seed in (0, 1):
                seed = r.liked[len(r.liked) - n_seed:]
                held = r.liked[: len(r.liked) - n_seed]
                offer = pool[~np.isin(pool, seed)]
                res.setdefault(f"{n_seed} like, no rating", []).append(
                    after_rating(pf, seed, np.array([], np.int64), np.array([], bool), w.candidates, rel))
                for k in (5, 10):
                    t = time.process_time()
                    active = pf.rows(choose_to_rate(pf, [c.ids[i] for i in offer], k, [c.ids[i] for i in seed]))
                    cpu.append(time.process_time() - t)
                    rand = rng.choice(offer, size=k, replace=False)
                    for kind in ("own", "close"):
                        for arm, picks in (("active", active), ("random", rand)):
                            mask = oracle_likes(pf, picks, held, kind)
                            key = f"{n_seed} like, k={k}, oracle={kind}, {arm}"
                            res.setdefault(key, []).append(after_rating(pf, seed, picks, mask, w.candidates, rel))
                            hits.setdefault(key, []).append(int(mask.sum()))
        print(f"{cut}: {n_readers} readers, {time.perf_counter() - t0:.0f} s", flush=True)
    summary = {k: {"ndcg": bootstrap(np.array(v)), "liked_picks_mean": float(np.mean(hits[k])) if k in hits else None}
               for k, v in res.items()}
    gains = {k.replace(", active", ""): paired_bootstrap(np.array(v), np.array(res[k.replace("active", "random")]))
             for k, v in res.items() if k.endswith("active")}
    report = {"readers": n_readers, "pool_days": POOL_DAYS, "close": CLOSE, "summary": summary,
              "active_minus_random_ndcg": gains, "choose_to_rate_cpu_ms_median": float(np.median(cpu) * 1000),
              "load_average_start": load, "load_average_end": os.getloadavg(), "uptime": os.popen("uptime").read()}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "recommend_active.json").write_text(json.dumps(report, indent=1))
    print(f"\n{n_readers} readers; nDCG@10 after rating (95% bootstrap), mean liked picks")
    for k, s in summary.items():
        m, a, b = s["ndcg"]
        print(f"  {k}: {m:.3f} [{a:.3f}, {b:.3f}]  liked {s['liked_picks_mean']}")
    print("active - random (paired):")
    for k, (m, a, b) in gains.items():
        print(f"  {k}: {m:+.3f} [{a:+.3f}, {b:+.3f}]")
    ms = report["choose_to_rate_cpu_ms_median"]
    print(f"choose_to_rate CPU median {ms:.0f} ms; load {load} -> {os.getloadavg()}")


if __name__ == "__main__":
    main()
