"""`paperfeed digest run`: plan every digest that is due, then send what the ledger says is owed.

Two phases, so that a crash anywhere loses nothing:
  plan  schedule.due_period picks each active subscriber's due period, DigestBuilder.build_many fills it, and
        the ledger records it (planned / empty) before any SMTP traffic.
  send  claim a batch, rebuild and render its messages (all the work that can fail or take time), then for
        each message: SMTP transaction, and on 250 the ledger commit at once, nothing in between.

The server runs the same thing on a schedule (`DigestScheduler`, a daemon thread); a job claim
(an flock beside a SQLite file, an advisory lock on PostgreSQL: store/jobs.py) makes one process at a
time do it, however many servers (nodes) share the database.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from paperfeed.config import locate
from paperfeed.core import Paperfeed
from paperfeed.mail.ledger import Claim, Ledger, PlanCounts
from paperfeed.mail.links import Links
from paperfeed.mail.model import Digest
from paperfeed.mail.settings import MailSettings
from paperfeed.mail.smtp import Outcome, open_session
from paperfeed.mail.subscriptions import Subscriptions, utcnow
from paperfeed.settings import Settings, digest_interval
from paperfeed.store import jobs
from paperfeed.store import signals as signals_sql
from paperfeed.store.papers import Store
from paperfeed.store.secret import site_secret

log = logging.getLogger(__name__)

Renderer = Callable[..., EmailMessage]  # render.render_message(digest, settings, links, *, message_id, date)
PARALLEL_FROM = 1000  # owed digests from which `run_due` sends from one process per core


@dataclass
class RunReport:
    planned: int = 0  # new digests recorded this run
    empty: int = 0  # due, nothing to send, no empty notice asked for
    sent: int = 0  # 250 from the server, recorded
    retried: int = 0  # transient failure: scheduled again with backoff
    failed: int = 0  # permanent failure (address marked bounced) or too many attempts
    resent: int = 0  # sent again after a process died holding it: each may be a second copy
    errors: list[str] = field(default_factory=list)

    def add(self, other: RunReport) -> None:
        for k in ("planned", "empty", "sent", "retried", "failed", "resent"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.errors.extend(other.errors)

    def line(self) -> str:
        s = (f"planned {self.planned}, empty {self.empty}, sent {self.sent}, retried {self.retried}, "
             f"failed {self.failed}, resent {self.resent}")
        if self.resent:
            s += f" (up to {self.resent} may be second copies, with the same Message-ID)"
        return s


# -- plan --------------------------------------------------------------------------------------------


def plan_due(pf: Paperfeed, ledger: Ledger, settings: MailSettings, now: datetime) -> PlanCounts:
    """Record every digest due at `now` that the ledger does not have yet."""
    from paperfeed.mail.schedule import due_period

    builder = None
    planned = empty = existing = 0
    for chunk in Subscriptions(pf.store).iter_active():
        ids = [s.id for s in chunk]
        last = ledger.last_window_end(ids)
        have = ledger.existing_periods(ids)
        items = []
        for sub in chunk:
            period = due_period(sub, now, last.get(sub.id))
            if period is not None and (sub.id, period.key) not in have:
                items.append((sub, period))
        if items:
            if builder is None:  # built only when something is due: its set-up reads the indexes
                from paperfeed.mail.digest import DigestBuilder

                builder = DigestBuilder(pf)
            c = ledger.plan(builder.build_many(items), settings.mail_domain, now)
            planned, empty, existing = planned + c.planned, empty + c.empty, existing + c.existing
    return PlanCounts(planned, empty, existing)


# -- send --------------------------------------------------------------------------------------------


def _default_renderer() -> Renderer:
    from paperfeed.mail.render import render_message

    return render_message


def _release(ledger: Ledger, claims: list[Claim]) -> None:
    """Give back claims this process will not attempt (config error, server down): see `Ledger.release`."""
    ledger.release(claims)


def _mark_shown(store: Store, sent: list[Digest]) -> None:
    """After the batch's commits (never inside a 250 -> commit window): the personal picks of digests
    that went out are logged as shown (shown_papers, place 'digest'), so neither the next digest nor the
    For-you page picks them again.  A crash before this line loses only that log: the next digest still
    leaves them out (earlier_picks reads digest_items)."""
    for d in sent:
        pks = [p.paper_pk for p in d.picks if p.section == "similar"]
        if d.subscriber.user_id is not None and pks:
            signals_sql.mark_shown(store, d.subscriber.user_id, pks, "digest")


def _send_loop(ledger: Ledger, settings: MailSettings, links: Links, render: Renderer, now: datetime,
               batch: int, report: RunReport, lock: threading.Lock) -> None:
    """One SMTP connection's worth of work: claim, render, send, record, until nothing is owed."""
    with open_session(settings) as session, ledger.sent_recorder() as mark_sent:
        while True:
            claims = ledger.claim(batch, now)
            if not claims:
                return
            pending = list(claims)
            try:
                loaded = ledger.load_many([c.digest_id for c in claims])
                ready: list[tuple[Claim, Digest, EmailMessage]] = []
                local = RunReport()
                for c in claims:
                    d = loaded[c.digest_id]
                    try:
                        msg = render(d, settings, links, message_id=c.message_id, date=d.period.due_at)
                    except Exception as e:  # noqa: BLE001 - one digest that cannot be rendered must not block the rest
                        log.exception("digest %s cannot be rendered", c.digest_id)
                        pending.remove(c)
                        if ledger.mark_retry(c.digest_id, f"render: {type(e).__name__}: {e}", c.attempts, now) \
                                == "failed":
                            local.failed += 1
                        else:
                            local.retried += 1
                        continue
                    ready.append((c, d, msg))
                renewed = time.monotonic()
                shown: list[Digest] = []
                for c, d, msg in ready:
                    if time.monotonic() - renewed > ledger.lease.total_seconds() / 3:  # a slow server
                        ledger.renew([p.digest_id for p in pending])
                        renewed = time.monotonic()
                    result = session.send(msg, d.subscriber.email)
                    if result.outcome is Outcome.delivered:
                        if mark_sent(c.digest_id):  # the 250 -> commit window: nothing else in it
                            shown.append(d)
                        pending.remove(c)
                        local.sent += 1
                        local.resent += c.resend
                        continue
                    pending.remove(c)
                    if result.outcome is Outcome.permanent:
                        ledger.mark_failed(c.digest_id, result.detail, subscriber_id=c.subscriber_id)
                        local.failed += 1
                    elif ledger.mark_retry(c.digest_id, result.detail, c.attempts, now) == "failed":
                        local.failed += 1
                    else:
                        local.retried += 1
                    if result.outcome is Outcome.transient and result.detail.startswith("CONNECT:"):
                        local.errors.append(f"cannot reach SMTP server {settings.host}:{settings.port}: "
                                            f"{result.detail}")
                        with lock:
                            report.add(local)
                        return  # the server is down: leave the rest for the next run (released below)
                _mark_shown(ledger.store, shown)
                with lock:
                    report.add(local)
            finally:
                _release(ledger, pending)


def send_owed(store: Store, settings: MailSettings, now: datetime | None = None, *, connections: int = 1,
              batch: int = 50, render: Renderer | None = None, ledger: Ledger | None = None,
              secret: str | None = None) -> RunReport:
    """Send every owed digest (planned, retry that is due, abandoned by a dead process) over `connections`
    SMTP connections in parallel threads.  Each claim is atomic, so threads and processes never overlap.
    Needs only the store (no search indexes), so a sender starts fast.  `secret`: the site's configured
    signing secret (`Settings.secret`), else the one kept in the store, so emailed links work on the site."""
    now = now or utcnow()
    settings = settings.beside(store.location or store.path)  # no SMTP server: the outbox of this database/node
    ledger = ledger or Ledger(store)
    links = Links(site_secret(store, secret), settings.base_url)
    render = render or _default_renderer()
    report = RunReport()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            _send_loop(ledger, settings, links, render, now, batch, report, lock)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(e)

    if connections <= 1:
        _send_loop(ledger, settings, links, render, now, batch, report, lock)
        return report
    threads = [threading.Thread(target=work, name=f"paperfeed-smtp-{i}") for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return report


def _send_in_process(where: Any, settings: MailSettings, now: datetime, connections: int,
                     secret: str | None) -> RunReport:
    store = Store.open(where)
    try:
        return send_owed(store, settings, now, connections=connections, secret=secret)
    finally:
        store.close()


def send_owed_in_processes(where: Any, settings: MailSettings, now: datetime | None = None, *,
                           processes: int = 2, connections: int = 1, secret: str | None = None) -> RunReport:
    """`send_owed` in `processes` worker processes (each with `connections` SMTP connections).  Rendering a
    message costs more CPU than sending it, and threads share one interpreter lock, so this is how sending uses
    several cores.  Safe for the same reason two `digest run` processes are: every claim is atomic.
    `where`: the database (a path, a URL or a `DbLocation`), handed to each process as an argument."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    now = now or utcnow()
    report = RunReport()
    with ProcessPoolExecutor(processes, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(_send_in_process, where, settings, now, connections, secret) for _ in range(processes)]
        for f in futures:
            report.add(f.result())
    return report


def auto_processes(ledger: Ledger) -> int:
    """One sending process per usable core (at most 4) once PARALLEL_FROM digests are owed, else one.
    Rendering is CPU-bound (~3 ms a message): measured on 2 cores, 259 messages/s from one process and
    498/s from two (bench/digest_send.py); below a thousand messages, starting processes is not worth it."""
    from paperfeed.search.embedder import available_cpus

    counts = ledger.status_counts()
    owed = counts.get("planned", 0) + counts.get("retry", 0)
    cpus = available_cpus()
    return min(cpus, 4) if owed >= PARALLEL_FROM and cpus > 1 else 1


def run_due(pf: Paperfeed, settings: MailSettings, now: datetime | None = None, *, connections: int = 1,
            processes: int | None = None, render: Renderer | None = None) -> RunReport:
    """Plan what is due at `now` (naive UTC; default: the current time), then send what is owed
    (`processes`: None chooses, see `auto_processes`)."""
    now = now or utcnow()
    ledger = Ledger(pf.store)
    counts = plan_due(pf, ledger, settings, now)
    if processes is None:
        processes = 1 if render is not None else auto_processes(ledger)
    if processes > 1:
        report = send_owed_in_processes(pf.location, settings, now, processes=processes, connections=connections,
                                        secret=pf.settings.secret)
    else:
        report = send_owed(pf.store, settings, now, connections=connections, render=render, ledger=ledger,
                           secret=pf.settings.secret)
    report.planned, report.empty = counts.planned, counts.empty
    return report


# -- on a schedule, in the server -----------------------------------------------------------------------


@contextmanager
def run_lock(where: Any) -> Iterator[bool]:
    """The digest job, not waited for (store/jobs.py: `X.db.digest.lock` beside a SQLite file, an advisory lock
    on PostgreSQL, so one node of several runs the digests): True when this process holds it (and may run)."""
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(jobs.claim(locate(where), jobs.DIGEST, blocking=False))
        except jobs.JobBusy:
            yield False
            return
        yield True


def interval_minutes(env: dict[str, str]) -> float:
    """PAPERFEED_DIGEST_INTERVAL: minutes between scheduled runs in the server (default 5; 0 = off)."""
    return digest_interval(env)


class DigestScheduler:
    """Runs `run_due` every `minutes` in a daemon thread until stopped.  A failed round is logged and the next
    one tries again (the ledger keeps what is owed), so the server never dies of a mail problem."""

    def __init__(self, pf: Paperfeed, settings: MailSettings, minutes: float,
                 clock: Callable[[], datetime] = utcnow):
        self.pf, self.settings, self.minutes, self.clock = pf, settings, minutes, clock
        self._stop = threading.Event()
        self.rounds = 0
        self.last: RunReport | None = None
        self.thread = threading.Thread(target=self._loop, name="paperfeed-digests", daemon=True)

    def start(self) -> DigestScheduler:
        self.thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self.thread.join(timeout)

    def run_once(self) -> RunReport | None:
        """One round, if no other process is running one; None when it was busy."""
        with run_lock(self.pf.location) as mine:
            if not mine:
                return None
            report = run_due(self.pf, self.settings, self.clock())
        self.rounds += 1
        self.last = report
        if report.planned or report.sent or report.retried or report.failed:
            log.warning("digests: %s", report.line())
        for e in report.errors:
            log.error("digests: %s", e)
        return report

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - logged; the next round retries
                log.exception("digest run failed; trying again in %s min", self.minutes)
            self._stop.wait(self.minutes * 60)


def start_scheduler(pf: Paperfeed, env: dict[str, str] | None = None) -> DigestScheduler | None:
    """What `paperfeed serve` calls: start the scheduled runs unless the digest interval is 0.  Malformed
    settings (the interval, PAPERFEED_SMTP_*) leave digests off with an error in the log: the site still serves,
    as it does when the subscribe form cannot send mail.  The settings are the core's, or read from `env`."""
    settings = pf.settings if env is None else Settings.from_env(env, db=pf.location)
    problem = settings.digest_error or settings.mail_error
    if problem or settings.mail is None:
        log.error("email digests are off: %s", problem)
        return None
    if settings.digest_interval <= 0:
        return None
    return DigestScheduler(pf, settings.mail, settings.digest_interval).start()
