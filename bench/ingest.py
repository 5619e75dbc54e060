"""Ingest throughput (no embeddings) and keyword-index build on the shared 74,728-paper corpus.

    .venv/bin/python bench/ingest.py [--n 74728] [--postgres PGDATA]

Prints papers/s for the store write (parse + merge + one transaction per batch), the keyword
index build, a re-ingest of the same file (idempotent: everything `unchanged`), disk use
and peak memory.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CORPUS, RESULTS, Timer, dir_size_mb, machine, peak_rss_mb, postgres_database  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=None, help="papers (default: the whole shared corpus)")
    ap.add_argument("--postgres", type=Path, default=None,
                    help="measure on PostgreSQL: an embedded server in this folder (database bench_ingest)")
    args = ap.parse_args()
    import resource

    from paperfeed.core import Paperfeed
    from paperfeed.ingestion.pipeline import ingest_paths
    from paperfeed.settings import Settings

    with tempfile.TemporaryDirectory(prefix="pf-bench-") as tmp:
        src = CORPUS
        if args.n:
            import gzip

            src = Path(tmp) / "slice.jsonl"
            with gzip.open(CORPUS, "rt") as fh, src.open("w") as out:
                for i, line in enumerate(fh):
                    if i >= args.n:
                        break
                    out.write(line)
        db = Path(tmp) / "bench.db"
        where = postgres_database(args.postgres, "bench_ingest") if args.postgres else str(db)
        pf = Paperfeed(Settings.for_db(where, index_dir=Path(tmp) / "indexes"))
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        with Timer() as t_ingest:
            rep = ingest_paths(pf.store, [str(src)])
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        n = rep.total("added")
        with Timer() as t_index:
            pf.refresh_keyword_index()
        with Timer() as t_again:
            rep2 = ingest_paths(pf.store, [str(src)])
        kw_mb = round(dir_size_mb(pf.engine.lexical.path), 1)
        pf.close()  # the last connection checkpoints and removes the WAL, so the file size is the store's
        with open("/proc/loadavg") as fh:
            load = fh.read().split()[:3]
        res = {
            "machine": machine(),
            "backend": "postgresql" if args.postgres else "sqlite",
            "load_avg": " ".join(load),
            "papers": n,
            "ingest_s": round(t_ingest.seconds, 2),
            "ingest_papers_per_s": round(n / t_ingest.seconds),
            "ingest_client_cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 2),
            "keyword_index_s": round(t_index.seconds, 2),
            "keyword_index_papers_per_s": round(n / t_index.seconds),
            "reingest_s": round(t_again.seconds, 2),
            "reingest_unchanged": rep2.total("unchanged"),
            "db_mb": None if args.postgres else round(dir_size_mb(db), 1),
            "keyword_index_mb": kw_mb,
            "peak_rss_mb": round(peak_rss_mb()),
        }
    for k, v in res.items():
        print(f"{k:28} {v}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / ("ingest-postgres.json" if args.postgres else "ingest.json")).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
