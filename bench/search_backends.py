"""Search latency on SQLite and PostgreSQL, both designs of issue 9, in ONE run (query embedding included).

    nice .venv/bin/python bench/search_backends.py --pgdata /tmp/pf-pg [--n 74728] [--queries 200]

Designs measured:
  sqlite+b   SQLite store, per-node derived indexes (tantivy + the vector index), as today
  pg+b       PostgreSQL store, the same per-node indexes fed from its change feed
  pg+a       PostgreSQL full-text search + pgvector HNSW fused in one SQL statement (paperfeed/store/pg_search.py)

Each store gets the real corpus (ingested through the product's ingest path) and the shared real MiniLM vectors
(`arxiv-cs-2025-2026.minilm.npz`, stored by content hash as the embedder would).  Queries: bench/search_latency.py's
200 title spans (a fifth quoted); every query is embedded afresh.  Reported per design and mode: p50/p95/p99/mean
wall ms, and the process CPU ms per query (`time.process_time`; the PostgreSQL server's CPU is not in it, so for
pg+a the server's share is the difference to wall time under low load).  Also: build times and sizes, the HNSW
recall@10 against an exact scan, and the top-10 overlap of pg+a with pg+b (how far the SQL ranking strays).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    CORPUS,
    RESULTS,
    SHARED,
    Timer,
    dir_size_mb,
    machine,
    peak_rss_mb,
    percentiles,
    postgres_database,  # noqa: E402
)
from search_latency import make_queries  # noqa: E402

MODES = ("keyword", "semantic", "hybrid")


def load(where: str, index_dir: Path, src: Path) -> tuple[object, dict]:
    """A store with the corpus and its shared vectors, and fresh (b) indexes; build timings."""
    from paperfeed.config import MODEL_NAME
    from paperfeed.core import Paperfeed
    from paperfeed.ingestion.pipeline import ingest_paths
    from paperfeed.settings import Settings

    pf = Paperfeed(Settings.for_db(where, index_dir=index_dir))
    info: dict = {}
    with Timer() as t:
        ingest_paths(pf.store, [str(src)])
    info["ingest_s"] = round(t.seconds, 1)
    z = np.load(SHARED / "arxiv-cs-2025-2026.minilm.npz")
    vecs = dict(zip(z["ids"].tolist(), z["vectors"].astype(np.float32), strict=True))
    with Timer() as t:
        items = [(p.content_hash(), vecs[p.id]) for chunk in pf.store.iter_changed(0)
                 for _pk, _s, p in chunk if p.id in vecs]
        for i in range(0, len(items), 20000):
            pf.store.put_embeddings(MODEL_NAME, items[i : i + 20000])
    info["put_vectors_s"] = round(t.seconds, 1)
    with Timer() as t:
        pf.refresh_keyword_index()
    info["keyword_index_s"] = round(t.seconds, 1)
    with Timer() as t:
        pf.refresh_vector_index()
    info["vector_index_s"] = round(t.seconds, 1)
    info["keyword_index_mb"] = round(dir_size_mb(pf.engine.lexical.path), 1)
    info["vector_index_mb"] = round(dir_size_mb(pf.engine.semantic.path), 1)
    info["papers"], info["vectors"] = pf.store.count(), len(pf.engine.semantic)
    return pf, info


def timed(fn, queries: list[str]) -> dict:  # type: ignore[no-untyped-def]
    from paperfeed.search import embedder as emb

    e = emb.get_embedder()
    wall, cpu = [], []
    for q in queries:
        e._cache.clear()  # every measured query is embedded afresh, as a new user query is
        c0, t0 = time.process_time(), time.perf_counter()
        fn(q)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    out = {k: round(v, 2) for k, v in percentiles(wall).items()}
    out["cpu_mean"] = round(float(np.mean(cpu)), 2)
    return out


def measure_b(pf, queries: list[str], warm: list[str]) -> dict:  # type: ignore[no-untyped-def]
    for q in warm:
        for mode in MODES:
            pf.engine.search(q, limit=10, mode=mode)
    return {mode: timed(lambda q, m=mode: pf.engine.search(q, limit=10, mode=m), queries) for mode in MODES}


def measure_a(pf, queries: list[str], warm: list[str], ef_search: int) -> dict:  # type: ignore[no-untyped-def]
    from paperfeed.search.embedder import get_embedder
    from paperfeed.search.query import parse_query
    from paperfeed.store import pg_search

    e = get_embedder()

    def run(q: str, mode: str) -> list:
        uq = parse_query(q)
        vec = e.embed_query(uq.free_text) if mode != "keyword" else None
        with pf.store.read() as conn:
            return pg_search.search(conn, uq, vec, limit=10, mode=mode, ef_search=ef_search)

    for q in warm:
        for mode in MODES:
            run(q, mode)
    out: dict = {mode: timed(lambda q, m=mode: run(q, m), queries) for mode in MODES}
    # HNSW recall@10 against an exact scan, and top-10 agreement with design (b) on the same store
    hits = total = agree = 0
    for q in queries:
        v = e.embed_query(parse_query(q).free_text)
        with pf.store.read() as conn:
            approx = set(pg_search.ann(conn, v, 10, ef_search))
            exact = set(pg_search.ann(conn, v, 10, exact=True))
        hits, total = hits + len(approx & exact), total + len(exact)
        a = {r[1] for r in run(q, "hybrid")}
        b = {r.paper.id for r in pf.engine.search(q, limit=10)}
        agree += len(a & b) / max(len(b), 1)
    out["hnsw_recall@10"] = round(hits / max(total, 1), 4)
    out["top10_overlap_with_b"] = round(agree / len(queries), 3)
    return out


def slice_corpus(n: int | None, tmp: Path) -> Path:
    if not n:
        return CORPUS
    import gzip

    src = tmp / "slice.jsonl"
    with gzip.open(CORPUS, "rt") as fh, src.open("w") as out:
        for i, line in enumerate(fh):
            if i >= n:
                break
            out.write(line)
    return src


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pgdata", type=Path, required=True, help="folder of the embedded PostgreSQL server")
    ap.add_argument("--n", type=int, default=None, help="papers (default: the whole shared corpus, 74,728)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--ef-search", type=int, default=100)
    ap.add_argument("--designs", default="sqlite+b,pg+b,pg+a")
    args = ap.parse_args()
    designs = args.designs.split(",")
    from paperfeed.store import pg_search

    res: dict = {"machine": machine(), "load_before": os.getloadavg(), "designs": {}}
    with tempfile.TemporaryDirectory(prefix="pf-bench-") as tmp_s:
        tmp = Path(tmp_s)
        src = slice_corpus(args.n, tmp)
        stores = {}
        if "sqlite+b" in designs:
            stores["sqlite"] = load(str(tmp / "bench.db"), tmp / "sqlite-indexes", src)
        if "pg+b" in designs or "pg+a" in designs:
            stores["pg"] = load(postgres_database(args.pgdata, "bench_search"), tmp / "pg-indexes", src)
        for k, (_pf, info) in stores.items():
            res[f"build_{k}"] = info
            print(f"{k}: {info}", file=sys.stderr)
        pf0 = next(iter(stores.values()))[0]
        with pf0.store.read() as conn:
            from sqlalchemy import text

            titles = [r[0] for r in conn.execute(text("SELECT title FROM papers ORDER BY pk LIMIT 200000"))]
        queries = make_queries(titles, args.queries + 20)
        warm, queries = queries[:20], queries[20:]
        if "pg+a" in designs:
            from paperfeed.config import MODEL_NAME

            with stores["pg"][0].store.write() as conn:
                res["build_pg_a"] = {k: round(v, 1) for k, v in pg_search.build(conn, MODEL_NAME).items()}
            print(f"pg+a build: {res['build_pg_a']}", file=sys.stderr)
        for d in designs:
            pf = stores["sqlite" if d == "sqlite+b" else "pg"][0]
            t0 = time.perf_counter()
            r = measure_a(pf, queries, warm, args.ef_search) if d == "pg+a" else measure_b(pf, queries, warm)
            r["load_avg"] = os.getloadavg()
            r["measure_s"] = round(time.perf_counter() - t0)
            res["designs"][d] = r
            print(f"{d}: {json.dumps(r)}", file=sys.stderr)
        for pf, _info in stores.values():
            pf.close()
    res["peak_rss_mb"] = round(peak_rss_mb())
    papers = next(iter(v for k, v in res.items() if k.startswith("build_") and "papers" in v))["papers"]
    print(f"\n{papers:,} papers ({machine()}); load {res['load_before']}")
    print(f"  {'design':9} {'mode':9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'mean':>8} {'cpu ms':>8}")
    for d, r in res["designs"].items():
        for mode in MODES:
            s = r[mode]
            print(f"  {d:9} {mode:9} {s['p50']:8.2f} {s['p95']:8.2f} {s['p99']:8.2f} {s['mean']:8.2f} "
                  f"{s['cpu_mean']:8.2f}")
    if "pg+a" in res["designs"]:
        a = res["designs"]["pg+a"]
        print(f"  pg+a HNSW recall@10 {a['hnsw_recall@10']}, top-10 overlap with (b) {a['top10_overlap_with_b']}; "
              f"build {res['build_pg_a']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"search_backends-{papers}.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
