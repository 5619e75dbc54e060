"""Real state for the delivery tests and benches: a store of real papers with subscribers and planned digests,
and the kill trials (a sender SIGKILLed at random points, then a rerun; count what the SMTP server received).

Shared by tests/test_mail_*.py and bench/digest_kill_trials.py, bench/digest_send.py.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from paperfeed.mail.ledger import Ledger
from paperfeed.mail.model import Digest, Period, Pick
from paperfeed.mail.runner import send_owed
from paperfeed.mail.settings import MailSettings
from paperfeed.mail.subscriptions import Prefs, Subscriber, Subscriptions
from paperfeed.store.papers import Store
from paperfeed.store.schema import digests

NOW = datetime(2025, 9, 30, 9, 0)  # inside the shared corpus's range
PERIOD = Period("2025-09-30", date(2025, 9, 29), date(2025, 9, 30), datetime(2025, 9, 30, 7, 0))


def make_store(path: Path, papers: int = 60, skip: int = 30000, backend: str = "sqlite") -> Store:
    """A store of real papers from the shared corpus (no indexes: sending needs none): the SQLite file `path`, or
    (`backend` "postgresql") a new database on the tests' PostgreSQL server (`store.location.db` is its URL)."""
    from conftest import corpus_records, write_jsonl

    from paperfeed.ingestion.pipeline import ingest_paths

    src = write_jsonl(path.with_suffix(".jsonl"), corpus_records(papers, skip=skip))
    if backend == "sqlite":
        store = Store.open(path)
    else:
        from store_backends import new_postgres_database

        store = Store.open(new_postgres_database())
    ingest_paths(store, [str(src)])
    return store


def add_subscribers(store: Store, emails: list[str], prefs: Prefs | None = None) -> list[Subscriber]:
    subs = Subscriptions(store)
    out = []
    for e in emails:
        s, _ = subs.subscribe(e, prefs)
        confirmed = subs.confirm(s.id)
        assert confirmed is not None and confirmed.active
        out.append(confirmed)
    return out


def digests_for(store: Store, subscribers: list[Subscriber], per: int = 3, period: Period = PERIOD,
                seed: int = 0) -> list[Digest]:
    """One digest per subscriber: `per` real papers, each with a reason, as DigestBuilder would pick them."""
    rng = random.Random(seed)
    with store.read() as conn:
        pks = [r[0] for r in conn.exec_driver_sql("SELECT pk FROM papers ORDER BY pk")]
    papers = store.get_many(pks)
    out = []
    for s in subscribers:
        chosen = rng.sample(pks, per)
        picks = tuple(Pick(pk, papers[pk], sec, reason) for pk, sec, reason in zip(
            chosen, ["trending", "searches", "similar"] * per,
            ["trending this week", 'matches your search "graph"', f"similar to {papers[chosen[0]].title[:40]}"] * per,
            strict=False))
        out.append(Digest(s, period, picks))
    return out


def copy_db(src: Path, dst: Path) -> None:
    """A consistent copy of a (WAL) SQLite database, via the backup API."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(dst) + suffix).unlink(missing_ok=True)
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()


def ledger_by_message_id(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as c:
        rows = c.execute("SELECT message_id, status FROM digests").fetchall()
    c.close()
    return dict(rows)


# -- kill trials ------------------------------------------------------------------------------------------


class _KillInWindow(Ledger):
    """A ledger whose k-th mark_sent kills the process before its commit: a kill exactly in the
    250 -> commit window, the one SMTP leaves open."""

    kill_at = 0
    calls = 0

    @contextmanager
    def sent_recorder(self) -> Iterator[Callable[[int], bool]]:
        with super().sent_recorder() as record:
            def killing(digest_id: int) -> bool:
                self.calls += 1
                if self.calls == self.kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                return record(digest_id)

            yield killing


def _child_send(db: Path, settings: MailSettings, kill_at: int) -> None:
    """In a forked child: open the copy afresh (no connection crosses the fork) and send."""
    code = 0
    try:
        store = Store.open(db)
        ledger: Ledger = Ledger(store)
        if kill_at:
            ledger = _KillInWindow(store)
            ledger.kill_at = kill_at
        send_owed(store, settings, NOW, ledger=ledger, batch=4)
        store.close()
    except BaseException:  # noqa: BLE001 - a child must never return into the parent's code
        code = 3
    os._exit(code)


@dataclass
class TrialTotals:
    trials: int = 0
    targeted: int = 0  # trials killed right after a 250, before its commit
    killed: int = 0  # the child was still running when SIGKILL came
    finished: int = 0  # the child had already finished
    digests: int = 0  # due digests over all trials
    lost: int = 0  # due digests never received (must be 0)
    duplicates: int = 0  # second copies received
    window_duplicates: int = 0  # ... of messages the server had accepted while the ledger said `sending`
    other_duplicates: int = 0  # ... any other kind (must be 0)
    random_window_duplicates: int = 0  # window duplicates from the kills at a random instant
    resent_reported: int = 0  # what the rerun's report called possible second copies
    not_sent_in_ledger: int = 0  # rows not `sent` after the rerun (must be 0)
    window_at_kill: Counter[str] = field(default_factory=Counter)  # ledger status of accepted messages at kill

    def line(self) -> str:
        return (f"trials {self.trials} ({self.targeted} killed right after a 250, the rest at a random instant; "
                f"killed {self.killed}, finished first {self.finished}), due digests {self.digests}, lost "
                f"{self.lost}, duplicates {self.duplicates} (in the 250->commit window {self.window_duplicates}, "
                f"of which {self.random_window_duplicates} from random-instant kills; other "
                f"{self.other_duplicates}), resends reported {self.resent_reported}, rows not sent "
                f"{self.not_sent_in_ledger}")


def calibrate(prepared: Path, work: Path, settings: MailSettings) -> float:
    """Seconds an uninterrupted child takes (fork to exit), to spread kill delays over its whole run."""
    copy_db(prepared, work)
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        _child_send(work, settings, 0)
    os.waitpid(pid, 0)
    return time.perf_counter() - t


def run_trials(prepared: Path, work: Path, settings: MailSettings, sink, trials: int, seed: int,  # type: ignore[no-untyped-def]
               window_share: float = 0.25, span: float | None = None) -> TrialTotals:
    """`trials` times: copy the prepared ledger, fork a sender, SIGKILL it (after a random delay, or, in
    `window_share` of the trials, right after a random 250 before its commit), rerun in this process, and
    check what the server received against the ledger."""
    rng = random.Random(seed)
    span = span if span is not None else calibrate(prepared, work, settings) * 1.2
    due = set(ledger_by_message_id(prepared))
    tot = TrialTotals()
    for _ in range(trials):
        copy_db(prepared, work)
        sink.clear()
        in_window = rng.random() < window_share
        kill_at = rng.randint(1, len(due)) if in_window else 0
        pid = os.fork()
        if pid == 0:
            _child_send(work, settings, kill_at)
        if not in_window:
            time.sleep(rng.uniform(0, span))
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status)
        tot.trials += 1
        tot.targeted += in_window
        tot.killed += killed
        tot.finished += not killed
        time.sleep(0.005)  # let the server finish a DATA the child completed just before dying
        at_kill = ledger_by_message_id(work)
        accepted_before = set(sink.message_ids())
        for mid in accepted_before:
            tot.window_at_kill[at_kill.get(mid, "?")] += 1
        store = Store.open(work)
        report = send_owed(store, settings, NOW)
        tot.resent_reported += report.resent
        with store.read() as conn:
            tot.not_sent_in_ledger += conn.execute(
                digests.select().where(digests.c.status != "sent")).all().__len__()
        store.close()
        got = sink.message_ids()
        tot.digests += len(due)
        tot.lost += sum(1 for mid in due if got[mid] == 0)
        for mid, n in got.items():
            if n > 1:
                tot.duplicates += n - 1
                if at_kill.get(mid) == "sending" and n == 2:  # the child's copy was accepted, row unmarked
                    tot.window_duplicates += 1
                    tot.random_window_duplicates += not in_window
                else:
                    tot.other_duplicates += n - 1
    return tot


def prepare_ledger(directory: Path, n: int, domain: str = "paperfeed.test") -> Path:
    """A database of real papers with `n` active subscribers and one planned digest each."""
    path = directory / "prepared.db"
    store = make_store(path)
    subs = add_subscribers(store, [f"reader{i}@example.org" for i in range(n)])
    counts = Ledger(store).plan(digests_for(store, subs), domain, NOW - timedelta(hours=2))
    assert counts.planned == n
    with store.engine.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return path


# -- kill trials with two sender nodes on PostgreSQL ------------------------------------------------------


def pg_admin(server_url: str):  # type: ignore[no-untyped-def]
    """An AUTOCOMMIT engine on the server's `postgres` database (CREATE / DROP DATABASE)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    return create_engine(make_url(server_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")


def pg_database_url(server_url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def pg_copy(admin, template: str, name: str) -> None:  # type: ignore[no-untyped-def]
    """A copy of database `template` (which must have no open connections) named `name` (dropped first)."""
    with admin.connect() as c:
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def prepare_ledger_pg(server_url: str, name: str, n: int, domain: str = "paperfeed.test", papers: int = 60) -> str:
    """`prepare_ledger` in a new PostgreSQL database `name` on the server; its URL."""
    from conftest import corpus_records, write_jsonl

    from paperfeed.ingestion.pipeline import ingest_paths

    admin = pg_admin(server_url)
    with admin.connect() as c:
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    url = pg_database_url(server_url, name)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        src = write_jsonl(Path(tmp) / "papers.jsonl", corpus_records(papers, skip=30000))
        store = Store.open(url)
        ingest_paths(store, [str(src)])
    subs = add_subscribers(store, [f"reader{i}@example.org" for i in range(n)])
    for i in range(0, len(subs), 500):
        Ledger(store).plan(digests_for(store, subs[i:i + 500], seed=i), domain, NOW - timedelta(hours=2))
    store.close()
    return url


def pg_ledger(url: str) -> dict[str, tuple[str, str | None]]:
    """message_id -> (status, claimed_by)."""
    store = Store.open(url)
    try:
        with store.read() as conn:
            return {m: (s, o) for m, s, o in conn.execute(
                digests.select().with_only_columns(digests.c.message_id, digests.c.status, digests.c.claimed_by))}
    finally:
        store.close()


def _dead_unreaped(pid: int, timeout: float) -> bool:
    """Wait until `pid` has exited without reaping it (a zombie still "exists" for the ledger's liveness check,
    so the other sender cannot reclaim its rows before the ledger is read)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
        if info is not None:
            return True
        time.sleep(0.001)
    return False


def run_trials_two_senders_pg(server_url: str, template: str, settings: MailSettings, sink, trials: int,  # type: ignore[no-untyped-def]
                              seed: int, window_share: float = 0.25, span: float | None = None) -> TrialTotals:
    """The kill trials with two sender processes (two nodes) on one PostgreSQL database: each trial copies the
    prepared ledger (CREATE DATABASE … TEMPLATE), forks two senders, SIGKILLs one of them (at a random instant, or
    in `window_share` of the trials right after one of its 250s before the commit) while the other keeps sending,
    then a rerun here finishes; what the server received is checked against the ledger."""
    rng = random.Random(seed)
    admin = pg_admin(server_url)
    work = pg_database_url(server_url, "kill_trial")
    due = set(pg_ledger(pg_database_url(server_url, template)))
    if span is None:  # calibrate: two uninterrupted senders, fork to exit
        pg_copy(admin, template, "kill_trial")
        t = time.perf_counter()
        pids = [os.fork() or _child_send(work, settings, 0) for _ in range(2)]  # type: ignore[func-returns-value]
        for p in pids:
            os.waitpid(p, 0)
        span = (time.perf_counter() - t) * 1.2
        sink.clear()
    tot = TrialTotals()
    for _ in range(trials):
        pg_copy(admin, template, "kill_trial")
        sink.clear()
        in_window = rng.random() < window_share
        kill_at = rng.randint(1, max(1, len(due) // 2)) if in_window else 0
        victim = os.fork()
        if victim == 0:
            _child_send(work, settings, kill_at)
        other = os.fork()
        if other == 0:
            _child_send(work, settings, 0)
        if not in_window:
            time.sleep(rng.uniform(0, span))
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        _dead_unreaped(victim, 120)
        time.sleep(0.005)  # let the server finish a DATA the victim completed just before dying
        accepted_at_kill = set(sink.message_ids())
        at_kill = pg_ledger(work)
        _, status = os.waitpid(victim, 0)
        os.waitpid(other, 0)
        killed = os.WIFSIGNALED(status)
        tot.trials += 1
        tot.targeted += in_window
        tot.killed += killed
        tot.finished += not killed
        victim_owner_suffix = f":{victim}"
        for mid in accepted_at_kill:
            tot.window_at_kill[at_kill.get(mid, ("?", None))[0]] += 1
        store = Store.open(work)
        report = send_owed(store, settings, NOW)
        store.close()
        tot.resent_reported += report.resent
        tot.not_sent_in_ledger += sum(1 for s, _o in pg_ledger(work).values() if s != "sent")
        got = sink.message_ids()
        tot.digests += len(due)
        tot.lost += sum(1 for mid in due if got[mid] == 0)
        for mid, n in got.items():
            if n > 1:
                tot.duplicates += n - 1
                st, owner = at_kill.get(mid, ("?", None))
                if st == "sending" and (owner or "").endswith(victim_owner_suffix) and n == 2:
                    tot.window_duplicates += 1
                    tot.random_window_duplicates += not in_window
                else:
                    tot.other_duplicates += n - 1
    admin.dispose()
    return tot
