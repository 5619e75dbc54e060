"""Load test of the papers site with wrk: the real `paperfeed serve` in a subprocess, wrk in another, loopback only.

    .venv/bin/python bench/load_wrk.py --db /path/to/papers.db [--workers N] [--duration 15] [--queries 8]
    .venv/bin/python bench/load_wrk.py --db postgresql://… --nodes 2 [--workers 1]

With a PostgreSQL URL the database is used as it is (not copied), and `--nodes N` starts N `serve` processes over
it, each with an index directory of its own (as N hosts would); wrk then runs against every node at once, the
connections split evenly, and the table shows the summed req/s and errors and the worst node's p50/p99.

Starts `paperfeed serve --no-embed` on the database (a copy: serving may migrate it and stores the
site secret in it; pass --embed to measure while the background embedder works), waits until
/api/status answers, then runs `wrk -t2 -c50 -d15s --latency` against, in turn: the daily list
(/papers), trending (/papers/trending), search (/api/papers/search, rotating through --queries real
queries with a small Lua script so it is not one cached query) and paper pages (rotating over 50
papers).  Prints a table of requests/s, p50, p99 and errors (non-2xx/3xx + socket errors), and writes
bench/out/load_wrk.json and bench/out/load_wrk.png.  Every request goes to 127.0.0.1 and each wrk run
stops by itself after --duration seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PAPERFEED = ROOT / ".venv" / "bin" / "paperfeed"

# Real searches of the kind people type: short topics, a phrase, a filter.
QUERIES = [
    "diffusion models", "graph neural networks", "large language model reasoning", "gaussian splatting",
    "retrieval augmented generation", "federated learning privacy", '"vision transformer"',
    "robot manipulation cat:cs.RO", "speculative decoding", "reinforcement learning from human feedback",
    "mixture of experts", "point cloud segmentation",
]

LUA = """
local paths = {%s}
local i = math.random(#paths)
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rows(db: Path | str, sql: str, *params: object) -> list[tuple]:
    """Rows of a read-only query, on a SQLite file or (through the store) a PostgreSQL URL."""
    if str(db).startswith("postgres"):
        from paperfeed.store.papers import Store

        store = Store.open(str(db))
        try:
            with store.read() as conn:
                return [tuple(r) for r in conn.exec_driver_sql(sql.replace("?", "%s"), params)]
        finally:
            store.close()
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [tuple(r) for r in con.execute(sql, params)]
    finally:
        con.close()


def queries(db: Path | str, n: int) -> list[str]:
    """`n` queries: the hand-picked ones first, then the first four words of random paper titles."""
    if n <= len(QUERIES):
        return QUERIES[:n]
    titles = [r[0] for r in _rows(db, "select title from papers order by random() limit ?", n - len(QUERIES))]
    words = [" ".join(re.findall(r"[A-Za-z]{3,}", t)[:4]) for t in titles]
    return QUERIES + [w for w in words if w]


def paper_ids(db: Path | str, n: int) -> list[str]:
    return [r[0] for r in _rows(db, "select id from papers order by listed desc, id limit ?", n)]


def run_wrk_nodes(bases: list[str], path: str, threads: int, connections: int, duration: int,
                  paths: list[str] | None) -> dict:
    """wrk against every node at once (connections split evenly): summed req/s and errors, the worst p50/p99."""
    if len(bases) == 1:
        return run_wrk(bases[0] + path, threads, connections, duration, paths)
    from concurrent.futures import ThreadPoolExecutor

    each = max(1, connections // len(bases))
    with ThreadPoolExecutor(len(bases)) as pool:
        rs = list(pool.map(lambda b: run_wrk(b + path, max(1, threads // len(bases)), each, duration, paths), bases))
    return {"rps": sum(r["rps"] for r in rs), "p50_ms": max(r["p50_ms"] for r in rs),
            "p99_ms": max(r["p99_ms"] for r in rs), "errors": sum(r["errors"] for r in rs),
            "per_node": rs}


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if not m:
        raise ValueError(f"unexpected wrk duration {value!r}")
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[m.group(2)]


def parse_wrk(text: str) -> dict[str, float]:
    """Requests/s, p50/p99 (ms), requests, and errors from wrk's --latency output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    lat = dict(re.findall(r"^\s*(50|75|90|99)%\s+(\S+)\s*$", text, re.M))
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)) else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    socket_errors = sum(int(x) for x in sock.groups()) if sock else 0
    return {"rps": rps, "p50_ms": _ms(lat["50"]), "p99_ms": _ms(lat["99"]), "requests": requests,
            "non2xx": non2xx, "socket_errors": socket_errors, "errors": non2xx + socket_errors}


def run_wrk(url: str, threads: int, connections: int, duration: int, paths: list[str] | None) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        if paths:
            fh.write(LUA % ", ".join(json.dumps(p) for p in paths))
            cmd += ["-s", fh.name]
    try:
        out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    finally:
        os.unlink(fh.name)
    return parse_wrk(out) | {"raw": out}


def wait_up(base: str, proc: subprocess.Popen, limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"paperfeed serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(base + "/api/status", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("paperfeed serve did not come up")


def warm(base: str, paths: list[str]) -> None:
    """One request per path first, so model loading and first-touch I/O are not in the figures."""
    for p in paths:
        with urllib.request.urlopen(base + p, timeout=120) as r:
            r.read()


def machine() -> str:
    import platform

    from paperfeed.search.embedder import available_cpus

    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("model name")), platform.machine())
    return f"{model}, {available_cpus()} usable cores, Python {platform.python_version()}"


def plot(results: dict[str, dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.bar(names, [results[n]["rps"] for n in names], color="#4c72b0")
    a.set_ylabel("requests / s")
    a.set_title("throughput")
    b.bar(names, [results[n]["p50_ms"] for n in names], label="p50", color="#55a868")
    b.bar(names, [results[n]["p99_ms"] - results[n]["p50_ms"] for n in names],
          bottom=[results[n]["p50_ms"] for n in names], label="p99", color="#c44e52")
    b.set_ylabel("latency (ms)")
    b.set_title("latency")
    b.legend()
    for ax in (a, b):
        ax.tick_params(axis="x", rotation=20)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True, help="a SQLite file, or a postgresql:// URL")
    ap.add_argument("--nodes", type=int, default=1, help="serve processes over the database (PostgreSQL only)")
    ap.add_argument("--workers", type=int, default=None, help="serve --workers (default: serve's own default)")
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--queries", type=int, default=len(QUERIES), help="distinct search queries to rotate through")
    ap.add_argument("--embed", action="store_true", help="leave background embedding on")
    ap.add_argument("--only", nargs="*", help="run only these targets (daily trending search paper)")
    ap.add_argument("--tag", default="", help="suffix for the output files")
    ap.add_argument("--warmup", type=int, default=5, help="seconds of unmeasured wrk load before each measured "
                    "run, so every worker process has filled its caches (0: measure from cold)")
    args = ap.parse_args()

    is_pg = args.db.startswith("postgres")
    if args.nodes > 1 and not is_pg:
        ap.error("--nodes needs a PostgreSQL --db (SQLite nodes would share one file on one machine)")
    exe = [str(PAPERFEED)] if PAPERFEED.exists() else [sys.executable, "-m", "paperfeed.cli.main"]
    tmp = tempfile.mkdtemp(prefix="load-wrk-")
    servers, bases = [], []
    for i in range(args.nodes):
        port = free_port()
        bases.append(f"http://127.0.0.1:{port}")
        cmd = [*exe, "--db", str(args.db), "serve", "--port", str(port)]
        cmd += ["--embed" if args.embed else "--no-embed"]
        if args.workers:
            cmd += ["--workers", str(args.workers)]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PAPERFEED_ARXIV_API": "",
               "PAPERFEED_DIGEST_INTERVAL": "0"}
        if is_pg:
            env["PAPERFEED_INDEX_DIR"] = str(Path(tmp) / f"node{i}")
        servers.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True))
    base, server = bases[0], servers[0]
    results: dict[str, dict] = {}
    try:
        for b, srv in zip(bases, servers, strict=True):
            wait_up(b, srv)
        qs = queries(args.db, args.queries)
        search_paths = [f"/api/papers/search?q={quote(q)}" for q in qs]
        paper_paths = [f"/papers/{quote(i, safe='/:')}" for i in paper_ids(args.db, 50)]
        targets = {
            "daily": ("/papers", None),
            "trending": ("/papers/trending", None),
            "search": (search_paths[0], search_paths),
            "paper": (paper_paths[0], paper_paths),
        }
        for name, (path, rotate) in targets.items():
            if args.only and name not in args.only:
                continue
            for b in bases:
                warm(b, rotate[: min(len(rotate), 20)] if rotate else [path])
            if args.warmup:
                run_wrk_nodes(bases, path, args.threads, args.connections, args.warmup, rotate)
            r = run_wrk_nodes(bases, path, args.threads, args.connections, args.duration, rotate)
            results[name] = r
            print(f"{name:9s} {r['rps']:9.1f} req/s  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  "
                  f"errors {r['errors']}", file=sys.stderr, flush=True)
    finally:
        for srv in servers:
            srv.send_signal(signal.SIGINT)
        for srv in servers:
            try:
                srv.wait(60)
            except subprocess.TimeoutExpired:
                srv.kill()
    del base, server

    n_papers = _rows(args.db, "select count(*) from papers")[0][0]
    facts = {"machine": machine(), "papers": n_papers, "workers": args.workers or "default", "nodes": args.nodes,
             "db": "postgresql" if is_pg else "sqlite",
             "wrk": f"-t{args.threads} -c{args.connections} -d{args.duration}s --latency",
             "queries": args.queries, "warmup_s": args.warmup, "load_avg_before": os.getloadavg()}
    print(f"\n{facts['machine']}; {n_papers:,} papers ({facts['db']}, {args.nodes} node(s)); serve --workers "
          f"{facts['workers']}; wrk {facts['wrk']}; "
          f"{args.queries} search queries rotated; {args.warmup} s warm-up per target")
    print(f"| {'endpoint':9s} | {'req/s':>9s} | {'p50 ms':>7s} | {'p99 ms':>7s} | {'errors':>6s} |")
    print(f"|{'-' * 11}|{'-' * 11}|{'-' * 9}|{'-' * 9}|{'-' * 8}|")
    for name, r in results.items():
        print(f"| {name:9s} | {r['rps']:9.1f} | {r['p50_ms']:7.2f} | {r['p99_ms']:7.2f} | {r['errors']:6d} |")
    OUT.mkdir(parents=True, exist_ok=True)
    stem = "load_wrk" + (f"-{args.tag}" if args.tag else "")
    (OUT / f"{stem}.json").write_text(json.dumps({"facts": facts, "results": results}, indent=2))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        results_to_plot = {}
    else:
        results_to_plot = results
    if results_to_plot:
        plot(results, OUT / f"{stem}.png", f"{facts['machine']}; {n_papers:,} papers; wrk {facts['wrk']}")
        print(f"wrote {OUT / (stem + '.json')} and {OUT / (stem + '.png')}")


if __name__ == "__main__":
    main()
