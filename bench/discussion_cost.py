"""What the discussion costs: rendering a comment (markdown-it + nh3 + math), and the page-cache key's
`discussion_version` query that every cached page hit now runs, on a SQLite store with N comments.

    nice python bench/discussion_cost.py [N]

Prints wall and CPU time (process_time) per operation; state the machine's load (uptime) beside the figures.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from paperfeed.accounts.passwords import hash_password
from paperfeed.discussion.render import render
from paperfeed.models import Paper
from paperfeed.store import discussion as sql
from paperfeed.store.accounts import AccountStore
from paperfeed.store.papers import Store

BODY = ("A question about $O(n^2)$ and **sparse** inputs: see [the paper](https://arxiv.org/abs/2501.00001).\n\n"
        "> quoted line\n\n- one\n- two with `code`\n\n@member1 what do you think?")


def timed(label: str, n: int, fn) -> None:  # type: ignore[no-untyped-def]
    w0, c0 = time.perf_counter(), time.process_time()
    for i in range(n):
        fn(i)
    w, c = time.perf_counter() - w0, time.process_time() - c0
    print(f"{label}: {w / n * 1e3:.3f} ms wall, {c / n * 1e3:.3f} ms CPU per call ({n} calls)")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    print(f"load: {os.getloadavg()}")
    timed("render (distinct bodies)", 2000, lambda i: render(BODY + f" {i}"))
    with tempfile.TemporaryDirectory() as d:
        store = Store.open(Path(d) / "bench.db")
        with store.paper_batch() as b:
            b.upsert([Paper(id=f"2501.{i:05d}", title=f"P{i}") for i in range(100)])
        user = AccountStore(store).create_user("b@example.org", hash_password("correct horse battery"), True)
        assert user is not None
        pks = [store.pk_of(f"2501.{i:05d}") for i in range(100)]
        t0 = time.perf_counter()
        for i in range(n):
            sql.add_comment(store, pks[i % 100], user.id, BODY)  # type: ignore[arg-type]
        print(f"{n} comments inserted in {time.perf_counter() - t0:.1f} s")
        timed(f"discussion_version ({n} comments)", 200, lambda i: sql.discussion_version(store))
        timed("comment_counts (20 cards)", 200, lambda i: sql.comment_counts(store, pks[:20]))  # type: ignore[arg-type]
        timed("thread (100 comments)", 50, lambda i: sql.thread(store, pks[0]))  # type: ignore[arg-type]
        store.close()


if __name__ == "__main__":
    main()
