"""New-query cost: query embedding (torch vs ONNX Runtime) plus the vector search, per query never seen before.

A search for a new query embeds it (no cache hit) and searches the vector index; at ~8 ms of embedding
a query that was the bottleneck of new-query search (81 req/s on 2 cores).  This prints, for each query
encoder, wall p50/p99 and CPU ms per query for the embedding alone and for embedding + `VectorIndex.search`
over the shared corpus's 74,728 reference vectors, and the ceiling that CPU cost puts on 2 cores
(2000 / CPU ms = queries/s if nothing else ran).  Queries are 1,000 distinct spans of real titles
(bench/search_latency.py's generator), each embedded afresh.

    PYTHONPATH=. .venv/bin/python bench/query_embed.py        # ~2 min on 2 idle cores
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_latency import make_queries  # noqa: E402

from paperfeed.search.embedder import Embedder  # noqa: E402
from paperfeed.search.vectors import VectorIndex  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=1000)
    args = ap.parse_args()
    os.environ.setdefault("PAPERFEED_CACHE", tempfile.mkdtemp(prefix="paperfeed-onnx-"))
    with gzip.open(DATA / "arxiv-cs-2025-2026.jsonl.gz", "rt", encoding="utf-8") as f:
        titles = [json.loads(line)["title"] for line in f]
    queries = make_queries(titles, args.queries + 50)
    warm, queries = queries[:50], queries[50:]
    ref = np.load(DATA / "arxiv-cs-2025-2026.minilm.npz")["vectors"].astype(np.float32)
    index = VectorIndex.open(Path(tempfile.mkdtemp()) / "v.idx", dim=384)
    index.add(np.arange(len(ref), dtype=np.uint64), ref)
    e = Embedder()
    onnx = e.onnx_encoder()
    print(f"load {os.getloadavg()}; ONNX encoder: {'yes' if onnx else 'unavailable'}")
    encoders = {"torch": e._encode_one_torch}
    if onnx is not None:
        encoders["onnx"] = onnx.encode
    print(f"{'encoder':8} {'step':18} {'p50 ms':>7} {'p99 ms':>7} {'cpu ms/query':>13} {'2-core ceiling/s':>17}")
    for name, encode in encoders.items():
        for q in warm:
            index.search(encode(q), 10)
        for step in ("embed", "embed+ann search"):
            ms = []
            c0 = time.process_time()
            for q in queries:
                t0 = time.perf_counter()
                v = encode(q)
                if step != "embed":
                    index.search(v, 10)
                ms.append((time.perf_counter() - t0) * 1000)
            cpu = 1000 * (time.process_time() - c0) / len(queries)
            print(f"{name:8} {step:18} {np.percentile(ms, 50):7.2f} {np.percentile(ms, 99):7.2f} {cpu:13.2f} "
                  f"{2000 / cpu:17.0f}", flush=True)
    print(f"load {os.getloadavg()}")


if __name__ == "__main__":
    main()
