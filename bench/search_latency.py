"""Search latency p50/p95/p99 for keyword, semantic and hybrid, query embedding included.

    .venv/bin/python bench/search_latency.py --db DB          # measure on a prepared database
    .venv/bin/python bench/search_latency.py --db DB --scale 1000000 --scaled-db BIG.db

Prepare DB once with the real corpus and real embeddings:
    PAPERFEED_DB=DB ./run.sh ingest ../shared/data/arxiv-cs-2025-2026.jsonl.gz && PAPERFEED_DB=DB ./run.sh index

`--scale N` builds a second database of N papers from it: the real papers, plus perturbed
copies (title and abstract words shuffled within the text, a fresh id) whose vectors are
the source paper's real vector plus Gaussian noise (sigma 0.35 / sqrt(384) per dimension),
re-normalised.  So the keyword index sees realistic term statistics and the vector index a
realistic neighbourhood structure, at a million.

Queries: 200 distinct spans of 2-4 words from random real titles (fixed seed), a fifth of
them quoted as phrases; each query is embedded afresh (no cache), as a new user query is.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, Timer, dir_size_mb, machine, peak_rss_mb, percentiles  # noqa: E402


def make_queries(titles: list[str], n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        words = [w.strip(".,:;()[]{}\"'?!") for w in rng.choice(titles).split()]
        words = [w for w in words if len(w) > 2 and w.isascii() and w.replace("-", "").isalnum()]
        if len(words) < 2:
            continue
        k = rng.randint(2, min(4, len(words)))
        i = rng.randint(0, len(words) - k)
        q = " ".join(words[i : i + k])
        if rng.random() < 0.2:
            q = f'"{q}"'
        if q.lower() not in seen:
            seen.add(q.lower())
            out.append(q)
    return out


def scale_db(src_db: Path, dst_db: Path, n: int, seed: int = 11) -> None:
    """Copy the real store, then add perturbed copies with noisy real vectors up to `n` papers."""
    import shutil

    from paperfeed.config import MODEL_NAME
    from paperfeed.core import Paperfeed
    from paperfeed.models import new_paper
    from paperfeed.store.schema import embeddings, papers

    shutil.copy(src_db, dst_db)
    pf = Paperfeed(dst_db)
    with pf.store.read() as conn:
        rows = conn.execute(
            papers.select().with_only_columns(papers.c.title, papers.c.abstract, papers.c.authors,
                                              papers.c.categories, papers.c.listed, embeddings.c.vector)
            .join(embeddings, embeddings.c.content_hash == papers.c.content_hash)
        ).all()
    rng = np.random.default_rng(seed)
    prng = random.Random(seed)
    have = pf.store.count()
    batch, vecs = [], []
    copy = 0
    t0 = time.perf_counter()
    while have < n:
        title, abstract, authors, cats, listed, vec = rows[copy % len(rows)]
        copy += 1
        words = abstract.split()
        prng.shuffle(words)
        twords = title.split()
        prng.shuffle(twords)
        p = new_paper(title=" ".join(twords), abstract=" ".join(words), arxiv_id=None,
                      doi=f"10.9999/scaled.{copy}", source="csv", authors=json.loads(authors),
                      categories=json.loads(cats), listed=listed)
        v = np.frombuffer(vec, dtype=np.float32) + rng.normal(0, 0.35 / np.sqrt(384), 384).astype(np.float32)
        batch.append(p)
        vecs.append((p.content_hash(), v / np.linalg.norm(v)))
        have += 1
        if len(batch) == 20000 or have >= n:
            with pf.store.write() as conn:
                pf.store.upsert(conn, batch, pf.store.next_seq(conn))
            pf.store.put_embeddings(MODEL_NAME, vecs)
            batch, vecs = [], []
            print(f"  scaled to {have} papers ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    pf.close()


def measure(db: Path, n_queries: int) -> dict:
    from paperfeed.core import Paperfeed
    from paperfeed.search import embedder as emb

    pf = Paperfeed(db)
    with Timer() as t_kw:
        pf.refresh_keyword_index()
    with Timer() as t_vec:
        pf.refresh_vector_index()
    with pf.store.read() as conn:
        from paperfeed.store.schema import papers

        titles = [r[0] for r in conn.execute(papers.select().with_only_columns(papers.c.title).limit(200000))]
    queries = make_queries(titles, n_queries + 20)
    warm, queries = queries[:20], queries[20:]
    e = emb.get_embedder()
    for q in warm:  # load model, page in indexes
        for mode in ("keyword", "semantic", "hybrid"):
            pf.engine.search(q, limit=10, mode=mode)
    out: dict = {"papers": pf.store.count(), "vectors": len(pf.engine.semantic),
                 "keyword_index_sync_s": round(t_kw.seconds, 1), "vector_index_sync_s": round(t_vec.seconds, 1),
                 "keyword_index_mb": round(dir_size_mb(pf.engine.lexical.path), 1),
                 "vector_index_mb": round(dir_size_mb(pf.engine.semantic.path), 1)}
    for mode in ("keyword", "semantic", "hybrid"):
        ms = []
        for q in queries:
            e._cache.clear()  # every measured query is embedded afresh, as a new user query is
            t0 = time.perf_counter()
            pf.engine.search(q, limit=10, mode=mode)
            ms.append((time.perf_counter() - t0) * 1000)
        out[mode] = {k: round(v, 2) for k, v in percentiles(ms).items()}
    # the query embedding alone, for reference
    ms = []
    for q in queries:
        e._cache.clear()
        t0 = time.perf_counter()
        e.embed_query(q)
        ms.append((time.perf_counter() - t0) * 1000)
    out["query_embedding"] = {k: round(v, 2) for k, v in percentiles(ms).items()}
    # recall@10 of the ANN index against exact search, for the same query embeddings
    vi = pf.engine.semantic.vectors
    hits = total = 0
    for q in queries:
        v = e.embed_query(q)
        exact = {k for k, _s in vi.exact_search(v, 10)}
        hits += len(exact & {k for k, _s in vi.search(v, 10)})
        total += len(exact)
    out["ann_recall@10"] = round(hits / max(total, 1), 4)
    out["peak_rss_mb"] = round(peak_rss_mb())
    pf.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", type=Path, required=True, help="prepared database (real corpus, embedded)")
    ap.add_argument("--scale", type=int, default=None, help="also measure at this many papers")
    ap.add_argument("--scaled-db", type=Path, default=None, help="where to build the scaled database")
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    results = {"machine": machine(), "runs": []}
    targets = [args.db]
    if args.scale:
        big = args.scaled_db or args.db.with_name(f"scaled-{args.scale}.db")
        if not big.exists():
            with Timer() as t:
                scale_db(args.db, big, args.scale)
            results["scale_build_s"] = round(t.seconds)
        targets.append(big)
    for db in targets:
        r = measure(db, args.queries)
        results["runs"].append(r)
        print(f"\n{r['papers']:,} papers, {r['vectors']:,} vectors ({machine()})")
        print(f"  {'mode':16} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'mean':>8}")
        for mode in ("keyword", "semantic", "hybrid", "query_embedding"):
            s = r[mode]
            print(f"  {mode:16} {s['p50']:8.2f} {s['p95']:8.2f} {s['p99']:8.2f} {s['mean']:8.2f}")
        print(f"  ANN recall@10 vs exact: {r['ann_recall@10']}; index sync: keyword {r['keyword_index_sync_s']} s, "
              f"vectors {r['vector_index_sync_s']} s")
        print(f"  indexes: keyword {r['keyword_index_mb']} MB, vectors {r['vector_index_mb']} MB; "
              f"peak RSS {r['peak_rss_mb']} MB")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "search_latency.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
