"""CPU cost of the product ranker per reader, with reasons, on real papers and real readers.

    nice .venv/bin/python bench/recommend_speed.py [--day 2026-03-17] [--readers 300]

The candidates are one listing day (what a daily digest ranks) and the 7 days after 2026-03-16 (a week);
readers are the author-continuation readers of that window (their papers before the cut as likes), plus
readers with 5 / 25 / 100 / 200 likes drawn from the corpus, to show how the cost grows with likes.  Each
reader is one `recommend(..., limit=10)` call against a `Candidates` prepared once, as a digest run over
many readers would do it.  Single-threaded BLAS; CPU time (process_time) next to wall time and the load.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench.recommend_author_continuation import paper_features  # noqa: E402
from bench.recommend_data import load_corpus, make_window  # noqa: E402
from paperfeed.recommend import Like, Signals, candidates_of, recommend  # noqa: E402
from paperfeed.recommend.batch import FollowIndex, recommend_many  # noqa: E402


def measure(pf, cands, readers: list[Signals]) -> tuple[float, float, float]:
    """Median and p95 CPU ms per reader, and wall ms per reader."""
    cpu = []
    w0 = time.perf_counter()
    for s in readers:
        t = time.process_time()
        recommend(s, cands, pf, limit=10)
        cpu.append(time.process_time() - t)
    wall = (time.perf_counter() - w0) / len(readers)
    return float(np.median(cpu) * 1000), float(np.percentile(cpu, 95) * 1000), wall * 1000


def measure_batched(pf, cands, readers: list[Signals]) -> tuple[float, float]:
    """CPU and wall ms per reader of recommend_many (one call for all readers, follow index included)."""
    t, w = time.process_time(), time.perf_counter()
    recommend_many(readers, cands, pf, limit=10, follow_index=FollowIndex(cands, pf))
    return (time.process_time() - t) * 1000 / len(readers), (time.perf_counter() - w) * 1000 / len(readers)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--day", type=date.fromisoformat, default=date(2026, 3, 17))
    ap.add_argument("--readers", type=int, default=300)
    args = ap.parse_args()
    c = load_corpus()
    pf = paper_features(c)
    w = make_window(c, date(2026, 3, 16))
    day = [c.ids[i] for i in w.candidates if c.dates[i] == np.datetime64(args.day)]
    week = [c.ids[i] for i in w.candidates]
    rng = np.random.default_rng(0)
    real = [Signals(liked=tuple(Like(c.ids[i]) for i in r.liked)) for r in w.readers[: args.readers]]
    dismissing = [Signals(liked=s.liked, dismissed=tuple(c.ids[i] for i in rng.choice(w.background, 10)))
                  for s in real]
    print(f"load average before: {os.getloadavg()}")
    print("| candidates | readers | likes (median) | CPU ms/reader median | p95 | wall ms/reader "
          "| 100,000 readers on 2 cores (CPU-bound) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, ids in ((f"one day ({args.day}, {len(day)})", day), (f"one week ({len(week)})", week)):
        t = time.process_time()
        cands = candidates_of(pf, ids)
        prep = (time.process_time() - t) * 1000
        groups = [("real readers", real), ("real readers + 10 dismissals", dismissing)]
        for n in (5, 25, 100, 200):
            groups.append((f"{n} likes", [Signals(liked=tuple(Like(c.ids[i]) for i in rng.choice(w.background, n)))
                                          for _ in range(100)]))
        for name, readers in groups:
            med, p95, wall = measure(pf, cands, readers)
            likes = int(np.median([len(s.liked) for s in readers]))
            print(f"| {label} | {name} ({len(readers)}) | {likes} | {med:.2f} | {p95:.2f} | {wall:.2f} "
                  f"| {med * 100_000 / 2 / 1000:.0f} s |")
            bcpu, bwall = measure_batched(pf, cands, readers)
            print(f"| {label} | {name} ({len(readers)}), recommend_many | {likes} | {bcpu:.2f} (mean) | | "
                  f"{bwall:.2f} | {bcpu * 100_000 / 2 / 1000:.0f} s |")
        print(f"(preparing the {label} candidates once: {prep:.0f} ms CPU)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
