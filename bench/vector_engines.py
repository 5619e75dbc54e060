"""The vector index behind paperfeed (faiss HNSW, `paperfeed.search.vectors`) against usearch, the one before.

Same vectors (the shared corpus's 74,728 all-MiniLM-L6-v2 embeddings, ../shared/data/*.minilm.npz), same
HNSW settings (M 16, construction breadth 128, search breadth 384), same queries: short spans of real
titles embedded by the model, as new users type them.  Prints build time, recall@10 against exact
search, per-query latency p50/p99 (one thread, as a web worker searches), CPU time, and whether usearch
and onnxruntime can live in one process.  `--scale 1000000` adds noisy copies of the real vectors
(sigma 0.35/sqrt(384) a dimension, like bench/search_latency.py) up to a million.

    PYTHONPATH=. .venv/bin/python bench/vector_engines.py                  # ~3 min on 2 idle cores
    PYTHONPATH=. .venv/bin/python bench/vector_engines.py --scale 1000000  # ~20 min
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_latency import make_queries  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
EF = 384


def vectors(scale: int | None) -> np.ndarray:
    v = np.load(DATA / "arxiv-cs-2025-2026.minilm.npz")["vectors"].astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    if scale and scale > len(v):
        rng = np.random.default_rng(11)
        noise = rng.normal(0, 0.35 / np.sqrt(384), (scale - len(v), 384)).astype(np.float32)
        extra = v[np.arange(scale - len(v)) % len(v)] + noise
        extra /= np.linalg.norm(extra, axis=1, keepdims=True)
        v = np.concatenate([v, extra])
    return np.ascontiguousarray(v)


def queries(n: int) -> np.ndarray:
    from paperfeed.search.embedder import Embedder

    with gzip.open(DATA / "arxiv-cs-2025-2026.jsonl.gz", "rt", encoding="utf-8") as f:
        titles = [json.loads(line)["title"] for line in f]
    texts = make_queries(titles, n)
    e = Embedder()
    return np.stack([e._encode_one_torch(t) for t in texts])


def exact(v: np.ndarray, q: np.ndarray, k: int = 10) -> list[set[int]]:
    out = []
    for start in range(0, len(q), 50):
        s = q[start : start + 50] @ v.T
        out.extend(set(row.tolist()) for row in np.argpartition(-s, k, axis=1)[:, :k])
    return out


def run_engine(name: str, v: np.ndarray, q: np.ndarray, truth: list[set[int]]) -> dict:
    keys = np.arange(len(v), dtype=np.uint64)
    c0, t0 = time.process_time(), time.perf_counter()
    if name == "faiss":
        from paperfeed.search.vectors import VectorIndex

        index = VectorIndex.open(Path(tempfile.mkdtemp()) / "v.idx", dim=384, expansion_search=EF)
        index.add(keys, v)
        search = lambda x: [k for k, _ in index.search(x, 10)]  # noqa: E731
    else:
        from usearch.index import Index

        raw = Index(ndim=384, metric="cos", dtype="f32", connectivity=16, expansion_add=128, expansion_search=EF)
        raw.add(keys, v)
        search = lambda x: raw.search(x, 10, threads=1).keys.tolist()  # noqa: E731
    build_s, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    for x in q[:20]:
        search(x)
    ms, hits = [], 0
    c0 = time.process_time()
    for x, t in zip(q, truth, strict=True):
        s = time.perf_counter()
        got = search(x)
        ms.append((time.perf_counter() - s) * 1000)
        hits += len(t & set(got))
    cpu = time.process_time() - c0
    return {"engine": name, "n": len(v), "build_s": round(build_s, 1), "build_cpu_s": round(build_cpu, 1),
            "recall@10": round(hits / (10 * len(q)), 4), "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3), "cpu_ms_per_query": round(1000 * cpu / len(q), 3)}


def crashes_beside_onnxruntime(first: str) -> str:
    code = f"import {first}\nimport onnxruntime\nprint('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return "imports fine" if done.returncode == 0 else f"exit {done.returncode}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=int, default=None)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--engines", default="faiss,usearch")
    args = ap.parse_args()
    print(f"load: {os.getloadavg()}")
    q = queries(args.queries)
    for n in [None, args.scale] if args.scale else [None]:
        v = vectors(n)
        truth = exact(v, q)
        for name in args.engines.split(","):
            print(json.dumps(run_engine(name, v, q, truth)), flush=True)
    for first in ("usearch.index", "faiss"):
        print(f"import {first}, then onnxruntime: {crashes_beside_onnxruntime(first)}")
    print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
