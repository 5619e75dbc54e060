"""How long an author's page takes to find its papers (`store/authors.py`), on the shared corpus.

    PYTHONPATH=. python bench/author_page.py [../shared/data/arxiv-cs-2025-2026.jsonl.gz] [--db /tmp/authors.db]

Ingests the corpus into a fresh SQLite store (once; reused when --db exists), picks 50 author names spread
over the corpus (prolific and one-paper authors), and times what the author page does for each, both ways:
candidates from the keyword index (`web/authors.py`, a phrase look-up in the `authors` field) and the
store's own LIKE scan of `papers.authors` (no candidates).  Wall-clock and CPU time per look-up, with the
machine's load (`os.getloadavg`) printed beside them, and a check that both ways list the same papers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from paperfeed.core import Paperfeed
from paperfeed.ingestion.pipeline import ingest_paths
from paperfeed.mail.digest import normalise_name
from paperfeed.store.authors import papers_by_author
from paperfeed.web.authors import _candidates


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", nargs="?", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"
                                                     / "arxiv-cs-2025-2026.jsonl.gz"))
    ap.add_argument("--db", default="/tmp/paperfeed-bench-authors.db")
    args = ap.parse_args()
    db = Path(args.db)
    fresh = not db.exists()
    pf = Paperfeed(db)
    store = pf.store
    if fresh:
        t = time.perf_counter()
        ingest_paths(store, [args.corpus])
        print(f"ingested {store.count():,} papers in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    pf.refresh_keyword_index()
    n = store.count()
    pks = list(range(1, n + 1, max(1, n // 50)))[:50]
    names = [p.authors[0] for p in store.get_many(pks).values() if p.authors]
    web = type("W", (), {"pf": pf})()
    print(f"papers in store: {n:,}; authors looked up: {len(names)}")
    results = {}
    for label, cands in (("keyword index", lambda name: _candidates(web, name)), ("LIKE scan", lambda name: None)):
        walls, cpus, found = [], [], []
        papers_by_author(store, names[0], normalise_name, 20, 0, cands(names[0]))  # warm caches
        for name in names:
            w0, c0 = time.perf_counter(), time.process_time()
            items, total = papers_by_author(store, name, normalise_name, 20, 0, cands(name))
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
            found.append(total)
            results.setdefault(name, []).append([p.id for _pk, p in items])
        print(f"{label:>13}: wall ms median {1000 * statistics.median(walls):.1f} max {1000 * max(walls):.1f}; "
              f"CPU ms median {1000 * statistics.median(cpus):.2f} max {1000 * max(cpus):.2f}; "
              f"papers each median {statistics.median(found):.0f} max {max(found)}")
    same = sum(1 for a, b in results.values() if a == b)
    print(f"same papers both ways: {same}/{len(results)}")
    load = os.getloadavg()
    print(f"load average (1/5/15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
