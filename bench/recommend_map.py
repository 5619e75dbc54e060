"""Build the paper map (paperfeed/recommend/map.py) on the whole corpus: time, clusters, labels.

Run: nice python -m bench.recommend_map [--k 40] [--png bench/results/map.png]
Prints wall and CPU time of the tf-idf fit (for the labels) and of the map build separately, the load,
and every cluster's size and label.  The PNG (optional, matplotlib from the bench extra) is for a human
to look at; it is not committed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from pathlib import Path

import numpy as np

from bench._common import CORPUS, RESULTS, SHARED, machine, peak_rss_mb
from paperfeed.recommend.map import build_map, save
from paperfeed.recommend.text import ARXIV_SANITY_TFIDF, fit_tfidf


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=40)
    ap.add_argument("--png", type=Path, default=None)
    a = ap.parse_args()
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    z = np.load(SHARED / "arxiv-cs-2025-2026.minilm.npz")
    pos = {p: i for i, p in enumerate(z["ids"].tolist())}
    rows = [r for r in rows if r["id"] in pos]
    vec = z["vectors"][[pos[r["id"]] for r in rows]].astype(np.float32)
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    print(f"{machine()}; load {os.getloadavg()[0]:.1f}; {len(rows):,} papers")
    w0, c0 = time.perf_counter(), time.process_time()
    v, x = fit_tfidf([f"{r['title']}. {r['abstract'] or ''}" for r in rows], ARXIV_SANITY_TFIDF)
    w1, c1 = time.perf_counter(), time.process_time()
    print(f"tf-idf fit (labels only): wall {w1 - w0:.1f} s, CPU {c1 - c0:.1f} s")
    m = build_map([r["id"] for r in rows], vec, x, list(v.get_feature_names_out()), k=a.k)
    w2, c2 = time.perf_counter(), time.process_time()
    print(f"map build (k-means k={a.k} + PCA + labels): wall {w2 - w1:.1f} s, CPU {c2 - c1:.1f} s; "
          f"peak RSS {peak_rss_mb():.0f} MB; load {os.getloadavg()[0]:.1f}")
    sizes = np.bincount(m.cluster, minlength=a.k)
    for c in np.argsort(-sizes):
        print(f"  {sizes[c]:6,}  {m.labels[c]}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    save(m, RESULTS / "map.npz")
    if a.png:
        try:
            import matplotlib
        except ImportError:
            raise SystemExit("--png needs matplotlib (the bench extra); the map itself is saved") from None

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(14, 14))
        ax.scatter(m.xy[:, 0], m.xy[:, 1], c=m.cluster, s=0.3, cmap="tab20")
        for c in range(a.k):
            ax.text(m.centres[c, 0], m.centres[c, 1], m.labels[c], fontsize=7, ha="center")
        ax.set_axis_off()
        fig.savefig(a.png, dpi=90, bbox_inches="tight")


if __name__ == "__main__":
    main()
