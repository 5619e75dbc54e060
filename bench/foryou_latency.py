"""Issue 11: latency of the For-you page (`GET /papers/for-you`) and of the daily list in the member's
order (`GET /papers?sort=for-you`), warm, with N members in the store (target: p99 <= 100 ms at 100,000).

    nice .venv/bin/python bench/foryou_latency.py [--members 100000] [--db /tmp/paperfeed-foryou-bench/papers.db]
                                                  [--sample 30] [--requests 300] [--profile]

Set-up (kept in --db and reused; delete the folder to start again): `bench/digest_build.setup`, i.e. the
last 30 days of the shared corpus, N accounts (each a subscriber with 2-4 saved searches, sometimes a followed
author/category) with 2-5 upvotes each, plus 2,000 upvotes on the newest day; here every paper's vector comes
from the shared `*.minilm.npz` (nothing is embedded).  The sampled members also get one followed category
and one dismissed paper through `paperfeed/store/signals.py`, so their page shows every kind of reason.

Measured: a real `paperfeed serve --no-embed --workers 1` on 127.0.0.1 over the store; one server-side
session per sampled member (`SessionPolicy.start`, the store path a log-in takes, and the cookie the site's
SessionMiddleware would set: the log-in form itself is rate-limited to 10 then one per 6 s); a warm-up of
two requests per member per page (the first builds the ranker's corpus features); then `--requests`
requests per page, round-robin over the members, one at a time, timed at the client (HTTP included).
`--profile` then profiles one member's page functions in this process (cProfile, top cumulative).
Writes bench/out/foryou_latency.json.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import json
import os
import pstats
import random
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import ROOT, SHARED, machine, percentiles  # noqa: E402
from bench.digest_build import WINDOW_DAY, setup  # noqa: E402
from bench.load_wrk import PAPERFEED, free_port, wait_up  # noqa: E402

OUT = ROOT / "bench" / "out"
SECRET = "foryou-latency-bench-secret"  # the served site's PAPERFEED_SECRET, so this script can sign cookies


def cookie_for(sid: str) -> str:
    """The `paperfeed_session` cookie Starlette's SessionMiddleware sets for a session holding `sid`."""
    from itsdangerous import TimestampSigner

    data = base64.b64encode(json.dumps({"sid": sid}).encode())
    return TimestampSigner(SECRET).sign(data).decode()


def prepare_members(db: Path, n: int, k: int, rng: random.Random) -> list[tuple[int, str]]:
    """(member id, session id) for k sampled members, each given one followed category and one dismissal."""
    from paperfeed.accounts.sessions import SessionPolicy
    from paperfeed.core import Paperfeed
    from paperfeed.mail.digest import load_window
    from paperfeed.store import signals as signals_sql
    from paperfeed.store.accounts import AccountStore

    pf = Paperfeed(db)
    accounts = AccountStore(pf.store)
    ids: list[int] = []
    while len(ids) < k:
        uid = rng.randrange(1, n + 1)
        if uid not in ids and accounts.user(uid) is not None:
            ids.append(uid)
    cats = ["cs.LG", "cs.CL", "cs.CV", "cs.AI", "cs.RO", "cs.CR"]
    latest = load_window(pf.store, WINDOW_DAY, WINDOW_DAY + timedelta(days=1)).new_pks  # the newest day's papers
    policy = SessionPolicy(accounts)
    out = []
    for uid in ids:
        signals_sql.follow(pf.store, uid, "category", rng.choice(cats))
        if latest:
            signals_sql.dismiss(pf.store, uid, rng.choice(latest))
        out.append((uid, policy.start(uid, "foryou-latency bench")))
    pf.close()
    return out


def measure(base: str, path: str, cookies: list[str], requests: int) -> list[float]:
    import httpx

    clients = [httpx.Client(base_url=base, cookies={"paperfeed_session": c}, timeout=120) for c in cookies]
    try:
        for c in clients:  # warm-up, unmeasured
            for _ in range(2):
                r = c.get(path)
                if r.status_code != 200 or "Log out" not in r.text:  # a 303 to /login: the cookie was not taken
                    raise SystemExit(f"{path}: HTTP {r.status_code}, not served as the member")
        ms = []
        for i in range(requests):
            c = clients[i % len(clients)]
            t = time.perf_counter()
            r = c.get(path)
            ms.append((time.perf_counter() - t) * 1000)
            if r.status_code != 200:
                raise SystemExit(f"{path}: HTTP {r.status_code}")
        return ms
    finally:
        for c in clients:
            c.close()


def profile(db: Path, uid: int) -> str:
    """cProfile of the page's own steps (signal counts, picks, cards) for one member, warm."""
    import io

    from paperfeed.core import Paperfeed
    from paperfeed.web import WebSettings
    from paperfeed.web.context import WebState
    from paperfeed.web.foryou import PAGE_PICKS, picks_of, signal_counts

    pf = Paperfeed(db)
    w = WebState(pf, WebSettings(secret=SECRET, arxiv_api_url=""))
    user = w.accounts.user(uid)
    assert user is not None

    def page() -> None:
        signal_counts(w, uid)
        picks = picks_of(w, user, PAGE_PICKS)
        w.entries([(p.pk, paper) for p, paper in picks], user)

    page()  # corpus features built here, not profiled
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(30):
        page()
    wall, cpu = (time.perf_counter() - w0) / 30 * 1000, (time.process_time() - c0) / 30 * 1000
    head = (f"in-process page steps, one member, 30 runs unprofiled: {wall:.1f} ms wall, {cpu:.1f} ms CPU each "
            "(CPU time is what load on the shared cores distorts least)\n")
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(20):
        page()
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(30)
    pf.close()
    return head + buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", type=int, default=100_000)
    ap.add_argument("--db", type=Path, default=Path("/tmp/paperfeed-foryou-bench/papers.db"))
    ap.add_argument("--sample", type=int, default=30, help="members whose pages are requested")
    ap.add_argument("--requests", type=int, default=300, help="measured requests per page")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    rng = random.Random(11)
    if not args.db.exists():
        t = time.perf_counter()
        setup(args.db, args.members, random.Random(4), None, SHARED / "arxiv-cs-2025-2026.minilm.npz")
        print(f"setup: {time.perf_counter() - t:.1f} s")
    members = prepare_members(args.db, args.members, min(args.sample, args.members), rng)
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    exe = [str(PAPERFEED)] if PAPERFEED.exists() else [sys.executable, "-m", "paperfeed.cli.main"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PAPERFEED_ARXIV_API": "",
           "PAPERFEED_DIGEST_INTERVAL": "0", "PAPERFEED_SECRET": SECRET,
           "PAPERFEED_INDEX_DIR": tempfile.mkdtemp(prefix="foryou-latency-")}
    server = subprocess.Popen([*exe, "--db", str(args.db), "serve", "--port", str(port), "--no-embed",
                               "--workers", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    results: dict[str, dict[str, float]] = {}
    try:
        wait_up(base, server, limit=300)
        cookies = [cookie_for(sid) for _uid, sid in members]
        for name, path in (("for-you page", "/papers/for-you"), ("daily list sort=for-you", "/papers?sort=for-you"),
                           ("daily list (anonymous order)", "/papers")):
            results[name] = percentiles(measure(base, path, cookies, args.requests))
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    uptime_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()

    print(f"machine: {machine()}; members {args.members:,}; {len(members)} sampled; {args.requests} requests/page")
    print(f"uptime before: {uptime_before}\nuptime after:  {uptime_after}")
    print(f"{'page':32} {'p50':>8} {'p95':>8} {'p99':>8} {'mean':>8}  (ms)")
    for name, r in results.items():
        print(f"{name:32} {r['p50']:8.1f} {r['p95']:8.1f} {r['p99']:8.1f} {r['mean']:8.1f}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "foryou_latency.json").write_text(json.dumps({
        "machine": machine(), "members": args.members, "sampled": len(members), "requests": args.requests,
        "uptime_before": uptime_before, "uptime_after": uptime_after, "ms": results}, indent=2))
    if args.profile:
        print(profile(args.db, members[0][0]))


if __name__ == "__main__":
    main()
