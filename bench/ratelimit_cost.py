"""What a store-kept rate-limit decision costs: `RateLimiter.allow` (one SQLite write transaction) and a
session lookup (`SessionPolicy.user`, one read), on a real database file.

    PYTHONPATH=. python bench/ratelimit_cost.py [--n 3000]

Prints wall-clock and CPU time per call (CPU time is what load distorts least) and the load average.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from paperfeed.accounts.sessions import SessionPolicy
from paperfeed.store.accounts import AccountStore
from paperfeed.store.papers import Store
from paperfeed.web.security import RateLimiter


def per_call(fn, n: int) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - w0) / n * 1e6, (time.process_time() - c0) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    n = ap.parse_args().n
    with tempfile.TemporaryDirectory() as d:
        store = Store.open(Path(d) / "rl.db")
        rl = RateLimiter({"login": (10**9, 1.0)}, store)
        w, c = per_call(lambda i: rl.allow("login", "127.0.0.1"), n)
        print(f"allow(), one client:      {w:7.0f} µs wall, {c:7.0f} µs CPU per call")
        w, c = per_call(lambda i: rl.allow("login", f"10.0.{i // 250}.{i % 250}"), n)
        print(f"allow(), a new client each: {w:5.0f} µs wall, {c:7.0f} µs CPU per call")
        acc = AccountStore(store)
        uid = acc.create_user("bench@example.org", "x").id
        policy = SessionPolicy(acc)
        sid = policy.start(uid)
        w, c = per_call(lambda i: policy.user(sid), n)
        print(f"session lookup:           {w:7.0f} µs wall, {c:7.0f} µs CPU per call")
        store.close()
    print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
