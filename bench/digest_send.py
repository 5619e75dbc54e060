"""Digest send rate: N planned digests (real papers, 5 picks each) sent to a local SMTP sink (aiosmtpd in its
own process, counting what it accepts), from 1..k sending processes x SMTP connections each, one ledger
commit per message.

Also measures what that commit costs on its own (WAL, synchronous=NORMAL as the store runs, against FULL),
and the sender's peak memory.

    .venv/bin/python bench/digest_send.py [--n 10000] [--runs 1x1,1x2,2x1,3x1]
    .venv/bin/python bench/digest_send.py --db embedded --runs 1x1,2x1   # PostgreSQL (a server URL, or `embedded`)

With `--db`, each run sends from a `CREATE DATABASE … TEMPLATE` copy of the prepared ledger on that server; PxC with
P > 1 is P sender processes (as P nodes would be) claiming from one database with FOR UPDATE SKIP LOCKED.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, Timer, machine, peak_rss_mb  # noqa: E402

from paperfeed.mail.ledger import Ledger  # noqa: E402

NOW = datetime(2025, 9, 30, 9, 0)
DOMAIN = "paperfeed.test"


def _sink(port: int, count, ready) -> None:  # type: ignore[no-untyped-def]
    """The SMTP sink process: accept everything, count it, keep nothing."""
    from aiosmtpd.controller import Controller

    class Count:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            with count.get_lock():
                count.value += 1
            return "250 OK"

    c = Controller(Count(), hostname="127.0.0.1", port=port)
    c.start()
    ready.set()
    while True:
        time.sleep(3600)


def prepare(path: Path | str, n: int) -> float:
    """A store of 2,000 real papers, `n` active subscribers (inserted in one transaction), a digest of 5 papers
    planned for each through the ledger.  Returns the planning time (seconds)."""
    from delivery_trials import make_store
    from sqlalchemy import insert

    from paperfeed.mail.model import Digest, Period, Pick
    from paperfeed.mail.subscriptions import Prefs, Subscriber
    from paperfeed.store.schema import subscribers

    if isinstance(path, str):  # a PostgreSQL database URL
        from conftest import corpus_records, write_jsonl

        from paperfeed.ingestion.pipeline import ingest_paths
        from paperfeed.store.papers import Store

        with TemporaryDirectory() as tmp:
            store = Store.open(path)
            ingest_paths(store, [str(write_jsonl(Path(tmp) / "p.jsonl", corpus_records(2000, skip=10000)))])
    else:
        store = make_store(path, papers=2000, skip=10000)
    with store.read() as conn:
        pks = [r[0] for r in conn.exec_driver_sql("SELECT pk FROM papers ORDER BY pk")]
    papers = store.get_many(pks)
    created = datetime(2025, 9, 1)
    with store.write() as conn:
        conn.execute(insert(subscribers), [
            {"email": f"reader{i}@example.org", "status": "active", "frequency": "daily", "weekly_day": 0,
             "delivery_hour": 7, "timezone": "UTC", "sections": "trending,searches,follows,similar", "send_empty": 0,
             "created_at": created, "confirmed_at": created} for i in range(n)])
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM subscribers ORDER BY id")]
    period = Period("2025-09-30", NOW.date() - timedelta(days=1), NOW.date(), NOW - timedelta(hours=2))
    digests = []
    for k, sid in enumerate(ids):
        sub = Subscriber(sid, f"reader{k}@example.org", None, "active", Prefs(), created, created, None)
        chosen = [pks[(k * 7 + j * 131) % len(pks)] for j in range(5)]
        digests.append(Digest(sub, period, tuple(
            Pick(pk, papers[pk], ("trending", "searches", "searches", "follows", "similar")[j],
                 f'matches your search "topic {j}"') for j, pk in enumerate(chosen))))
    with Timer() as t:
        counts = Ledger(store).plan(digests, DOMAIN, NOW)
    assert counts.planned == n
    if store.path is not None:
        with store.engine.connect() as c:
            c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return t.seconds


class TimedLedger(Ledger):
    """Times what the sender does between a 250 and the end of its commit: the window a kill can duplicate."""

    windows: list[float]

    @contextmanager
    def sent_recorder(self) -> Iterator[Callable[[int], bool]]:
        self.windows = getattr(self, "windows", [])
        with super().sent_recorder() as record:
            def timed(digest_id: int) -> bool:
                t = time.perf_counter()
                ok = record(digest_id)
                self.windows.append(time.perf_counter() - t)
                return ok

            yield timed


def commit_cost(path: Path, synchronous: str, n: int = 2000) -> float:
    """Microseconds per one-row UPDATE + COMMIT in WAL mode at the given synchronous level."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute(f"PRAGMA synchronous={synchronous}")
    t = time.perf_counter()
    for i in range(1, n + 1):
        con.execute("BEGIN IMMEDIATE")
        con.execute("UPDATE digests SET last_error = ? WHERE id = ?", (str(i), i))
        con.execute("COMMIT")
    us = (time.perf_counter() - t) / n * 1e6
    con.close()
    return us


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--runs", default="1x1,1x2,2x1,3x1",
                    help="comma-separated PROCESSESxCONNECTIONS (connections per process) to measure")
    ap.add_argument("--db", default="", help="a PostgreSQL server URL (or `embedded`): send from PostgreSQL")
    args = ap.parse_args()

    from delivery_trials import copy_db, pg_admin, pg_copy, pg_database_url
    from smtp_servers import free_port

    from paperfeed.mail.runner import send_owed, send_owed_in_processes
    from paperfeed.mail.settings import MailSettings
    from paperfeed.store.papers import Store

    ctx = mp.get_context("spawn")
    count = ctx.Value("i", 0)
    ready = ctx.Event()
    port = free_port()
    sink = ctx.Process(target=_sink, args=(port, count, ready), daemon=True)
    sink.start()
    ready.wait(30)
    settings = MailSettings(port=port, timeout=30, sender=f"digests@{DOMAIN}")
    results: dict = {"machine": machine(), "n": args.n, "runs": []}
    print(f"{machine()}; {args.n:,} planned digests of 5 real papers each")
    server_url = args.db
    if server_url == "embedded":
        from store_backends import postgres_server_uri

        server_url = postgres_server_uri()
    admin = pg_admin(server_url) if server_url else None
    results["db"] = "postgresql" if server_url else "sqlite"
    cpu0 = time.process_time()
    with TemporaryDirectory() as tmp:
        prepared: Path | str = Path(tmp) / "prepared.db"
        if admin is not None:
            with admin.connect() as c:
                c.exec_driver_sql('DROP DATABASE IF EXISTS "send_prepared" WITH (FORCE)')
                c.exec_driver_sql('CREATE DATABASE "send_prepared"')
            prepared = pg_database_url(server_url, "send_prepared")
        plan_s = prepare(prepared, args.n)
        results["plan_per_s"] = args.n / plan_s
        print(f"plan (ledger rows + picks, chunks of 500): {args.n / plan_s:,.0f} digests/s")
        for spec in args.runs.split(","):
            procs, conns = (int(x) for x in spec.split("x"))
            work: Path | str = Path(tmp) / f"send{procs}x{conns}.db"
            if admin is not None:
                pg_copy(admin, "send_prepared", f"send_{procs}x{conns}")
                work = pg_database_url(server_url, f"send_{procs}x{conns}")
            else:
                copy_db(Path(prepared), Path(work))
            before = count.value
            with Timer() as t:
                if procs == 1:
                    store = Store.open(work)
                    ledger = TimedLedger(store)
                    report = send_owed(store, settings, NOW, connections=conns, batch=100, ledger=ledger)
                    store.close()
                    w = sorted(ledger.windows)
                    results.setdefault("window_us", {"p50": w[len(w) // 2] * 1e6, "p99": w[int(len(w) * .99)] * 1e6})
                else:
                    report = send_owed_in_processes(work, settings, NOW, processes=procs, connections=conns)
            got = count.value - before
            assert report.sent == args.n == got, (report.line(), got)
            rate = args.n / t.seconds
            results["runs"].append({"processes": procs, "connections": conns, "seconds": t.seconds, "per_s": rate})
            print(f"send, {procs} process(es) x {conns} connection(s): {args.n:,} in {t.seconds:.1f} s = "
                  f"{rate:,.0f} messages/s (sink received {got:,})")
        for level in ("NORMAL", "FULL") if admin is None else ():  # SQLite's commit cost; not PostgreSQL's
            fresh = Path(tmp) / f"commit-{level}.db"  # a fresh copy each: the same WAL state for both levels
            copy_db(prepared, fresh)
            us = commit_cost(fresh, level)
            results[f"commit_us_{level.lower()}"] = us
            print(f"one-row commit, WAL, synchronous={level}: {us:,.0f} us")
    if "window_us" in results:
        print("250 -> commit window (the recorder's UPDATE + COMMIT): p50 {p50:.0f} us, p99 {p99:.0f} us"
              .format(**results["window_us"]))
    results["peak_rss_mb"] = peak_rss_mb()
    results["parent_cpu_s"] = time.process_time() - cpu0
    print(f"this process's CPU time {results['parent_cpu_s']:.1f} s (the sink and spawned senders not included)")
    print(f"sender peak RSS {results['peak_rss_mb']:.0f} MB")
    sink.terminate()
    RESULTS.mkdir(exist_ok=True)
    name = "digest_send_pg.json" if admin is not None else "digest_send.json"
    (RESULTS / name).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
