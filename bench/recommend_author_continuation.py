"""Offline benchmark of paperfeed's recommender: the author-continuation protocol (issue 11).

    nice .venv/bin/python bench/recommend_author_continuation.py            # report (~25 min CPU)
    nice .venv/bin/python bench/recommend_author_continuation.py --tune     # re-tune weights (~3 min)

Simulated readers are authors with >= 4 papers listed before a cut date and >= 2 in the 7 days after
(bench/recommend_data.py); likes = their papers before the cut; candidates = every paper of the 7 days;
relevant = their own papers among them.  Author names are never features.  Weights are tuned on
TUNE_CUTS (Oct 2025 - Jan 2026) and reported on REPORT_CUTS (Feb - Mar 2026); nothing after 2026-03-31
is read.  Every baseline runs on the same sampled readers (the tf-idf SVM costs ~3 s of CPU per reader,
so each report window samples --readers of its readers, seeded); the cheap methods are also reported on
every reader of the report windows.

"Not interested" is simulated two ways, both without touching the relevant papers:
  past week  the reader dismissed the top-10 picks of the week before the cut that were not theirs;
             the ranking of this week's candidates with and without those dismissals is compared.
  in feed    the reader dismisses the non-own papers among this week's top 10; those are removed from
             the candidates in *both* arms, so any gain comes from re-ranking the rest, not from removal.

Writes bench/out/recommend_author_continuation.json and bench/out/recommend_ndcg.png.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

# BLAS threads would make CPU time per reader depend on how many cores happen to be free.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench.recommend_baselines import BASELINES, embedding_logreg, max_cosine, rrf, tfidf_svm  # noqa: E402
from bench.recommend_data import (  # noqa: E402
    OUT,
    REPORT_CUTS,
    TUNE_CUTS,
    Corpus,
    Reader,
    Window,
    load_corpus,
    make_window,
)
from bench.recommend_metrics import bootstrap, metrics, order, paired_bootstrap  # noqa: E402
from paperfeed.recommend import DEFAULT_WEIGHTS, FEATURES, PaperFeatures, score_rows  # noqa: E402
from paperfeed.recommend.ranker import _weighted, feature_matrix  # noqa: E402

OURS = "paperfeed (this ranker)"
Scorer = Callable[[Corpus, Window, Reader], np.ndarray]


def paper_features(c: Corpus, ranker: bool = True) -> PaperFeatures:
    return PaperFeatures(ids=c.ids, titles=c.titles, vectors=c.vectors, tfidf=c.tfidf_ranker if ranker else c.tfidf,
                         categories=[tuple(x) for x in c.categories], authors=[tuple(a) for a in c.authors])


def past_week_dismissals(pf: PaperFeatures, c: Corpus, w: Window, r: Reader, k: int = 10,
                         weights=DEFAULT_WEIGHTS) -> np.ndarray:
    """The reader's top-k non-own picks among the papers listed in the 7 days before the cut."""
    lo = np.datetime64(w.cut - timedelta(days=7))
    prev = w.background[(c.dates[w.background] >= lo)]
    prev = prev[~np.isin(prev, r.liked)]
    s = score_rows(pf, r.liked, np.array([], dtype=np.int64), prev, weights)
    return prev[order(s)[:k]]


def sample(w: Window, n: int | None, seed: int = 0) -> list[Reader]:
    if n is None or len(w.readers) <= n:
        return w.readers
    rng = np.random.default_rng(seed + w.cut.toordinal())  # a permutation: a smaller n is a prefix of a larger
    return [w.readers[i] for i in sorted(rng.permutation(len(w.readers))[:n])]


def evaluate(c: Corpus, pf: PaperFeatures, windows: list[Window], readers: dict, methods: dict[str, Scorer]):
    """Per method: arrays of nDCG@10, recall@50, MRR and fit+rank CPU seconds, reader by reader."""
    res: dict[str, dict[str, list[float]]] = {m: {"ndcg": [], "recall": [], "mrr": [], "cpu": []} for m in methods}
    for w in windows:
        for r in readers[w.cut]:
            rel = np.isin(w.candidates, r.relevant)
            for name, fn in methods.items():
                t = time.process_time()
                s = fn(c, w, r)
                spent = time.process_time() - t
                for cached in ("svm", "logreg"):  # a score read from disk: count the CPU its fit took
                    if (cached, w.cut, r.name) in CACHED_CPU and name.startswith(CACHED_NAMES[cached]):
                        spent = CACHED_CPU[(cached, w.cut, r.name)]
                res[name]["cpu"].append(spent)
                for key, v in zip(("ndcg", "recall", "mrr"), metrics(s, rel), strict=True):
                    res[name][key].append(v)
    return {m: {k: np.array(v) for k, v in d.items()} for m, d in res.items()}


SCORE_CACHE = OUT / "recommend_baseline_scores"


def disk_cached(name: str, fn: Scorer) -> Scorer:
    """The SVM and the logistic regression cost seconds per reader: their scores are kept in bench/out/,
    with the CPU time they took, so a rerun (e.g. after re-tuning our weights) reports the same figures."""

    def run(c: Corpus, w: Window, r: Reader) -> np.ndarray:
        path = SCORE_CACHE / f"{name}-{w.cut}-{hashlib.sha1(r.name.encode()).hexdigest()[:12]}.npz"
        if path.exists():
            z = np.load(path)
            CACHED_CPU[(name, w.cut, r.name)] = float(z["cpu"])
            return z["scores"]
        t = time.process_time()
        s = fn(c, w, r)
        SCORE_CACHE.mkdir(parents=True, exist_ok=True)
        np.savez(path, scores=s, cpu=time.process_time() - t)
        return s

    return run


CACHED_CPU: dict[tuple, float] = {}
CACHED_NAMES = {"svm": "tf-idf LinearSVC", "logreg": "logistic regression"}


def methods_for(pf: PaperFeatures, c: Corpus) -> dict[str, Scorer]:
    pf_sanity = paper_features(c, ranker=False)
    empty = np.array([], dtype=np.int64)
    svm = disk_cached("svm", tfidf_svm)
    logreg = disk_cached("logreg", embedding_logreg)

    def fusion(c, w, r):  # the SVM's cost is counted in its own row; this row adds max cosine + fusion
        return rrf(svm(c, w, r), max_cosine(c, w, r))

    def ours(c, w, r):
        return score_rows(pf, r.liked, empty, w.candidates)

    def rocchio(c, w, r):
        return score_rows(pf_sanity, r.liked, empty, w.candidates, {"tfidf_rocchio": 1.0})

    def ours_dismissed(c, w, r):
        return score_rows(pf, r.liked, past_week_dismissals(pf, c, w, r), w.candidates)

    swap = {tfidf_svm: svm, embedding_logreg: logreg}
    m: dict[str, Scorer] = {name: swap.get(fn, fn) for name, fn in BASELINES.items()}
    m["RRF of tf-idf SVM and max cosine"] = fusion
    m["tf-idf Rocchio, arxiv-sanity-lite features (the SVM closed-form limit)"] = rocchio
    m[OURS] = ours
    m[OURS + " + past-week dismissals"] = ours_dismissed
    return m


def in_feed(c: Corpus, pf: PaperFeatures, windows: list[Window], readers: dict, k: int = 10) -> dict:
    """The "in feed" dismissal simulation (see the module docstring)."""
    empty = np.array([], dtype=np.int64)
    out = {"without": [], "with": []}
    for w in windows:
        for r in readers[w.cut]:
            s = score_rows(pf, r.liked, empty, w.candidates)
            top = w.candidates[order(s)[:k]]
            dis = top[~np.isin(top, r.relevant)]
            cand = w.candidates[~np.isin(w.candidates, dis)]
            rel = np.isin(cand, r.relevant)
            out["without"].append(metrics(score_rows(pf, r.liked, empty, cand), rel)[0])
            out["with"].append(metrics(score_rows(pf, r.liked, dis, cand), rel)[0])
    return {k2: np.array(v) for k2, v in out.items()}


def tune(c: Corpus, pf: PaperFeatures, windows: list[Window]) -> dict[str, float]:
    """Coordinate search over a weight grid on the tuning windows, maximising mean nDCG@10."""
    cache = []
    for w in windows:
        for r in w.readers:
            dis = past_week_dismissals(pf, c, w, r)
            raw, _, _ = feature_matrix(pf, r.liked, dis, w.candidates)
            cache.append((raw, np.isin(w.candidates, r.relevant)))
    print(f"tuning on {len(cache)} readers of {len(windows)} windows")

    def mean_ndcg(wt):
        return float(np.mean([metrics(_weighted(raw, wt), rel)[0] for raw, rel in cache]))

    best = dict(DEFAULT_WEIGHTS)
    score = mean_ndcg(best)
    grid = {f: ([-1.0, -0.5, -0.25, 0.0] if f.startswith("dismissed") else [0.0, 0.125, 0.25, 0.5, 1.0, 2.0])
            for f in FEATURES}
    for _ in range(3):
        improved = False
        for f in FEATURES:
            if f == "tfidf_rocchio":
                continue  # the scale anchor
            for v in grid[f]:
                trial = {**best, f: v}
                s = mean_ndcg(trial)
                if s > score + 1e-4:
                    best, score, improved = trial, s, True
        print(f"  nDCG@10 {score:.4f} with {best}")
        if not improved:
            break
    return best


def summarise(res: dict) -> dict:
    return {m: {k: bootstrap(v) for k, v in d.items() if k != "cpu"} | {
        "cpu_ms_median": float(np.median(d["cpu"]) * 1000), "cpu_ms_p95": float(np.percentile(d["cpu"], 95) * 1000),
        "readers": len(d["ndcg"])} for m, d in res.items()}


def table(summary: dict) -> str:
    lines = ["| method | nDCG@10 | recall@50 | MRR | fit+rank CPU ms/reader (median) |",
             "| --- | --- | --- | --- | --- |"]
    for m, s in summary.items():
        cell = [f"{s[k][0]:.3f} [{s[k][1]:.3f}, {s[k][2]:.3f}]" for k in ("ndcg", "recall", "mrr")]
        lines.append(f"| {m} | {' | '.join(cell)} | {s['cpu_ms_median']:.1f} |")
    return "\n".join(lines)


def plot(summary: dict, path) -> None:
    try:
        import matplotlib
    except ModuleNotFoundError:  # the shared venv may lack the bench extra: draw the same bars as SVG
        plot_svg(summary, path.with_suffix(".svg"))
        return

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary)
    mean = np.array([summary[m]["ndcg"][0] for m in names])
    lo = mean - np.array([summary[m]["ndcg"][1] for m in names])
    hi = np.array([summary[m]["ndcg"][2] for m in names]) - mean
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(names) + 1.5))
    colors = ["tab:orange" if m.startswith("paperfeed") else "tab:gray" for m in names]
    ax.barh(range(len(names)), mean, xerr=[lo, hi], color=colors, capsize=3)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0.20, ls="--", c="k", lw=0.8)
    ax.set_xlabel("nDCG@10 (mean, 95% bootstrap interval over readers)")
    ax.set_title("Author continuation, arXiv cs, report windows Feb-Mar 2026")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def plot_svg(summary: dict, path) -> None:
    """Horizontal bars with 95% intervals, no plotting library needed; x from 0 to 0.35 nDCG@10."""
    scale, left, row = 1400.0, 420, 26
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + 700}" height="{row * len(summary) + 60}"'
           ' font-family="sans-serif" font-size="11">']
    for i, (m, s) in enumerate(summary.items()):
        mean, lo, hi = s["ndcg"]
        y = 10 + i * row
        color = "#e8872b" if m.startswith("paperfeed") else "#8c8c8c"
        label = m.replace("&", "&amp;").replace("<", "&lt;")
        out.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{label}</text>')
        out.append(f'<rect x="{left}" y="{y + 3}" width="{mean * scale:.1f}" height="16" fill="{color}"/>')
        out.append(f'<line x1="{left + lo * scale:.1f}" x2="{left + hi * scale:.1f}" y1="{y + 11}" y2="{y + 11}"'
                   ' stroke="black"/>')
        out.append(f'<text x="{left + hi * scale + 4:.1f}" y="{y + 14}">{mean:.3f}</text>')
    base = 10 + row * len(summary)
    x20 = left + 0.20 * scale
    out.append(f'<line x1="{x20}" x2="{x20}" y1="10" y2="{base}" stroke="black" stroke-dasharray="4"/>')
    out.append(f'<text x="{left}" y="{base + 30}">nDCG@10 (mean, 95% bootstrap interval over readers); '
               "dashed: the 0.20 target. Author continuation, report windows Feb-Mar 2026</text></svg>")
    path.write_text("\n".join(out))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tune", action="store_true", help="search the ranker's weights on the tuning windows")
    ap.add_argument("--readers", type=int, default=15, help="readers sampled per report window (all methods)")
    ap.add_argument("--all-readers", action="store_true", help="also score the cheap methods on every reader")
    ap.add_argument("--baselines-only", action="store_true", help="only fit (and cache) the SVM and the LR")
    args = ap.parse_args()
    load = os.getloadavg()
    t0 = time.perf_counter()
    c = load_corpus()
    pf = paper_features(c)
    print(f"corpus {len(c.ids)} papers up to 2026-03-31, loaded in {time.perf_counter() - t0:.0f} s")
    if args.tune:
        print(json.dumps(tune(c, pf, [make_window(c, d) for d in TUNE_CUTS]), indent=1))
        return
    windows = [make_window(c, d) for d in REPORT_CUTS]
    sampled = {w.cut: sample(w, args.readers) for w in windows}
    everyone = {w.cut: w.readers for w in windows}
    for w in windows:
        print(f"window {w.cut}: {len(w.candidates)} candidates, {len(w.readers)} readers, "
              f"{len(sampled[w.cut])} sampled")
    if args.baselines_only:
        m = methods_for(pf, c)
        evaluate(c, pf, windows, sampled, {k: v for k, v in m.items() if k.startswith(tuple(CACHED_NAMES.values()))})
        return
    res = evaluate(c, pf, windows, sampled, methods_for(pf, c))
    summary = summarise(res)
    ours = res[OURS]["ndcg"]
    gaps = {m: paired_bootstrap(ours, res[m]["ndcg"]) for m in res if m != OURS}
    groups = everyone if args.all_readers else sampled
    cheap = {m: f for m, f in methods_for(pf, c).items() if "SVM" not in m and "logistic" not in m}
    all_res = evaluate(c, pf, windows, everyone, cheap) if args.all_readers else res
    summary_all = summarise(all_res) if args.all_readers else {}
    feed = in_feed(c, pf, windows, groups)
    past = all_res[OURS + " + past-week dismissals"]["ndcg"], all_res[OURS]["ndcg"]
    report = {
        "load_average_at_start": load, "load_average_at_end": os.getloadavg(), "uptime_note": os.popen("uptime").read(),
        "windows": {str(w.cut): {"candidates": len(w.candidates), "readers": len(w.readers),
                                 "sampled": len(sampled[w.cut])} for w in windows},
        "sampled": summary, "ours_minus_method_ndcg": gaps, "all_readers_cheap_methods": summary_all,
        "dismissals_past_week_gain": paired_bootstrap(*past),
        "dismissals_in_feed": {"without": bootstrap(feed["without"]), "with": bootstrap(feed["with"]),
                               "gain": paired_bootstrap(feed["with"], feed["without"])},
        "weights": dict(DEFAULT_WEIGHTS),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "recommend_author_continuation.json").write_text(json.dumps(report, indent=1, default=str))
    print("\nAll methods, sampled readers:\n" + table(summary))
    print("\nours - method, nDCG@10 (paired bootstrap):")
    for m, g in gaps.items():
        print(f"  {m}: {g[0]:+.3f} [{g[1]:+.3f}, {g[2]:+.3f}]")
    if summary_all:
        print("\nCheap methods, every reader of the report windows:\n" + table(summary_all))
    print(f"\npast-week dismissals: gain {report['dismissals_past_week_gain']}")
    print(f"in-feed dismissals: {report['dismissals_in_feed']}")
    print(f"load average {load} -> {os.getloadavg()}; {time.perf_counter() - t0:.0f} s wall")
    plot(summary, OUT / "recommend_ndcg.png")


if __name__ == "__main__":
    main()
