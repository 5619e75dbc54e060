"""Embedding throughput and ANN agreement on real papers from the shared corpus.

Prints papers/s for `Embedder.embed`, then recall@k of `VectorIndex.search` (the storage
type it really uses) against exact fp32 brute force on the same embeddings, for two kinds
of query: paper vectors ("more like this") and embedded titles (short text queries),
and the process's peak RSS. `--compare-dtypes` repeats the recall for f32/f16/i8 storage:
the measurement behind the dtype that `paperfeed.search.vectors` picks.

    .venv/bin/python bench/embed_throughput.py --n 1000
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from paperfeed.models import embedding_text  # noqa: E402
from paperfeed.search.embedder import Embedder, available_cpus  # noqa: E402
from paperfeed.search.vectors import DEFAULT_DTYPE, DTYPES, VectorIndex  # noqa: E402

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv-cs-2025-2026.jsonl.gz"


def load(n: int) -> list[dict]:
    """The first `n` records with an abstract (file order, so runs are comparable)."""
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        rows = (json.loads(line) for line in f)
        return list(itertools.islice((r for r in rows if r.get("title") and r.get("abstract")), n))


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int, exclude: np.ndarray | None) -> np.ndarray:
    """fp32 brute-force top-k row ids per query (optionally excluding the query's own row)."""
    sims = queries @ vectors.T
    if exclude is not None:
        sims[np.arange(len(queries)), exclude] = -np.inf
    return np.argsort(-sims, axis=1, kind="stable")[:, :k]


def ann_recall(
    vectors: np.ndarray, queries: np.ndarray, k: int, dtype: str, exclude: np.ndarray | None
) -> tuple[float, float]:
    """(recall@k, ms per query) of a VectorIndex with `dtype` storage against fp32 brute force."""
    truth = exact_top(vectors, queries, k, exclude)
    with tempfile.TemporaryDirectory() as tmp:
        index = VectorIndex.open(Path(tmp) / "bench.usearch", dim=vectors.shape[1], dtype=dtype)
        index.add(np.arange(len(vectors), dtype=np.uint64), vectors)
        hits = 0
        t0 = time.perf_counter()
        for i, q in enumerate(queries):
            found = [key for key, _ in index.search(q, k + 1)]
            if exclude is not None:
                found = [key for key in found if key != exclude[i]]
            hits += len(set(found[:k]) & set(truth[i].tolist()))
        ms = (time.perf_counter() - t0) * 1000 / len(queries)
    return hits / (k * len(queries)), ms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="papers to embed")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--queries", type=int, default=200, help="queries of each kind for recall")
    ap.add_argument("--compare-dtypes", action="store_true", help="also measure f16 and i8 storage")
    args = ap.parse_args()

    if not CORPUS.exists():
        sys.exit(f"shared corpus not found at {CORPUS}")
    papers = load(args.n)
    texts = [embedding_text(p["title"], p["abstract"]) for p in papers]

    t0 = time.perf_counter()
    embedder = Embedder()
    load_s = time.perf_counter() - t0
    import torch

    print(f"model load {load_s:.1f}s  torch threads {torch.get_num_threads()} (cpus {available_cpus()})")

    t0 = time.perf_counter()
    vectors = embedder.embed(texts, batch_size=args.batch_size)
    secs = time.perf_counter() - t0
    n = len(texts)
    tokens = int(embedder.token_lengths(texts).sum())
    print(
        f"embedded {n} papers in {secs:.1f}s: {n / secs:.1f} papers/s, {tokens / secs:.0f} tokens/s "
        f"(batch {args.batch_size})"
    )

    rng = np.random.default_rng(0)
    rows = rng.choice(n, size=min(args.queries, n), replace=False)
    titles = embedder.embed([papers[i]["title"] for i in rows], batch_size=args.batch_size)
    dtypes = DTYPES if args.compare_dtypes else (DEFAULT_DTYPE,)
    for dtype in dtypes:
        r_p, ms_p = ann_recall(vectors, vectors[rows], args.k, dtype, exclude=rows)
        r_t, ms_t = ann_recall(vectors, titles, args.k, dtype, exclude=None)
        mark = " (VectorIndex default)" if dtype == DEFAULT_DTYPE else ""
        print(
            f"{dtype}{mark}: recall@{args.k} vs fp32 exact: paper queries {r_p:.3f} ({ms_p:.2f} ms/q), "
            f"title queries {r_t:.3f} ({ms_t:.2f} ms/q)"
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
