"""How long an author's page takes to find its papers (`store/authors.py`), on the shared corpus.

    PYTHONPATH=. python bench/author_page.py [../shared/data/arxiv-cs-2025-2026.jsonl.gz] [--db /tmp/authors.db]

Ingests the corpus into a fresh SQLite store (once; reused when --db exists), picks 50 author names spread
over the corpus (prolific and one-paper authors), and times `papers_by_author` for each: wall-clock and CPU
time per look-up, with the machine's load (`os.getloadavg`) printed beside them.  The look-up scans
`papers.authors` with a LIKE, so its cost grows with the number of papers in the store.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from paperfeed.ingestion.pipeline import ingest_paths
from paperfeed.mail.digest import normalise_name
from paperfeed.store.authors import papers_by_author
from paperfeed.store.papers import Store


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", nargs="?", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"
                                                     / "arxiv-cs-2025-2026.jsonl.gz"))
    ap.add_argument("--db", default="/tmp/paperfeed-bench-authors.db")
    args = ap.parse_args()
    db = Path(args.db)
    fresh = not db.exists()
    store = Store.open(db)
    if fresh:
        t = time.perf_counter()
        ingest_paths(store, [args.corpus])
        print(f"ingested {store.count():,} papers in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    n = store.count()
    pks = list(range(1, n + 1, max(1, n // 50)))[:50]
    names = [p.authors[0] for p in store.get_many(pks).values() if p.authors]
    walls, cpus, found = [], [], []
    papers_by_author(store, names[0], normalise_name, 20, 0)  # warm the page cache
    for name in names:
        w0, c0 = time.perf_counter(), time.process_time()
        _items, total = papers_by_author(store, name, normalise_name, 20, 0)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        found.append(total)
    load = os.getloadavg()
    print(f"papers in store: {n:,}; authors looked up: {len(names)} (papers each: median "
          f"{statistics.median(found):.0f}, max {max(found)})")
    print(f"wall ms per look-up: median {1000 * statistics.median(walls):.1f}, max {1000 * max(walls):.1f}")
    print(f"CPU ms per look-up:  median {1000 * statistics.median(cpus):.1f}, max {1000 * max(cpus):.1f}")
    print(f"load average (1/5/15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
