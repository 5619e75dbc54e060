"""Background embedding against foreground `paperfeed index`, and request latency while it runs.

Three runs on copies of one freshly ingested database of `--n` random real papers (not embedded):
  1. foreground: `paperfeed index` (every core, nice 0): papers/s and CPU s/paper (its rusage);
  2. background, no requests: `paperfeed serve` with background embedding (the niced child process,
     `PAPERFEED_EMBED_THREADS` or every core), polled through /api/status until all are embedded;
  3. background with requests: the same, while `--clients` client threads send searches for queries never
     seen before (spans of real titles) to /api/papers/search as fast as answers come; prints requests/s,
     p50/p99 latency and the embedding rate meanwhile.
The issue's bars: run 2 >= 80% of run 1, run 3 p99 <= 100 ms.  Everything stays on 127.0.0.1.

    PYTHONPATH=. .venv/bin/python bench/embed_background.py --n 3000    # ~8 min on 2 idle cores
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_latency import make_queries  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "arxiv-cs-2025-2026.jsonl.gz"


def cli(*args: str, db: Path, **kw: object) -> subprocess.Popen | subprocess.CompletedProcess:
    env = {**os.environ, "PAPERFEED_DB": str(db), "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "paperfeed.cli.main", *args]
    if kw.pop("background", False):
        return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)


def status(base: str) -> dict:
    return httpx.get(f"{base}/api/status", timeout=10).json()


def serve_and_wait(db: Path, n: int, clients: int, queries: list[str]) -> dict:
    from paperfeed.web.testing import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = cli("serve", "--port", str(port), db=db, background=True)
    lat: list[float] = []
    stop = threading.Event()
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                status(base)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.5)
        from paperfeed.config import MODEL_NAME
        from paperfeed.core import Paperfeed

        def count() -> int:
            pf = Paperfeed(db)
            try:
                return pf.store.count_embedded(MODEL_NAME)
            finally:
                pf.close()

        def client(i: int) -> None:
            qs = queries[i::clients]
            with httpx.Client(timeout=30) as c:
                for q in qs:
                    if stop.is_set():
                        return
                    t0 = time.perf_counter()
                    c.get(f"{base}/api/papers/search?q={quote(q)}&limit=10")
                    lat.append((time.perf_counter() - t0) * 1000)

        while count() == 0:  # the child has loaded its model and committed a first chunk
            time.sleep(0.2)
        start_count, t0 = count(), time.perf_counter()
        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
        for t in threads:
            t.start()
        while count() < n:
            time.sleep(0.5)
        wall = time.perf_counter() - t0
        stop.set()
        for t in threads:
            t.join(30)
        out = {"papers/s": round((n - start_count) / wall, 2), "wall_s": round(wall, 1)}
        if lat:
            out |= {"requests": len(lat), "req/s": round(len(lat) / wall, 1),
                    "p50_ms": round(float(np.percentile(lat, 50)), 1),
                    "p99_ms": round(float(np.percentile(lat, 99)), 1)}
        return out
    finally:
        stop.set()
        proc.terminate()
        proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--clients", type=int, default=4)
    args = ap.parse_args()
    print(f"load {os.getloadavg()}", flush=True)
    with gzip.open(DATA, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    titles = [r["title"] for r in rows]
    rows = random.Random(0).sample([r for r in rows if r.get("abstract")], args.n)
    tmp = Path(tempfile.mkdtemp(prefix="embed-bg-"))
    try:
        src = tmp / "papers.jsonl"
        src.write_text("".join(json.dumps(r) + "\n" for r in rows))
        base_db = tmp / "base.db"
        cli("ingest", str(src), db=base_db)
        dbs = {}
        for name in ("fg", "bg", "bgreq"):
            dbs[name] = tmp / name / "papers.db"
            dbs[name].parent.mkdir()
            shutil.copy(base_db, dbs[name])
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        cli("index", db=dbs["fg"])
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        fg = args.n / wall
        print(f"foreground `paperfeed index`: {fg:.2f} papers/s ({wall:.0f} s incl. model load and index sync), "
              f"{cpu / args.n:.3f} CPU s/paper; load {os.getloadavg()[0]:.2f}", flush=True)
        bg = serve_and_wait(dbs["bg"], args.n, 0, [])
        print(f"background, no requests: {bg} = {100 * bg['papers/s'] / fg:.0f}% of foreground; "
              f"load {os.getloadavg()[0]:.2f}", flush=True)
        queries = make_queries(titles, 20000, seed=3)
        busy = serve_and_wait(dbs["bgreq"], args.n, args.clients, queries)
        print(f"background with {args.clients} clients of new-query searches: {busy}; "
              f"load {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
