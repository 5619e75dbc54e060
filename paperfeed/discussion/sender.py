"""Notification emails, sent in the background: a comment request only records its notifications
(`notify.notify_for`); a `NotificationSender` thread sends what is owed, each email exactly once.

Why not in the request: an SMTP hand-over takes from milliseconds to the session timeout (a slow or
unreachable server), and a reply that mentions three people would have held the writer's request for all
of it; a failure would also have been lost with the request.  Now the request costs one INSERT per notified
member, and the email is retried.

Exactly once, with several senders (threads, `serve` worker processes, nodes over one PostgreSQL): each
email is taken with one conditional UPDATE (`store/notifications.claim`: `pending` -> `sending`, for a
lease); only the sender whose UPDATE changed the row sends it.  No job lock is needed on top (unlike the
digests' planning, store/jobs.py): the claim is per row, so senders on several nodes share the work and
never send one email twice.  A sender that dies between its claim and its `finish` leaves the row in
`sending`; when the lease (10 min) ends, another sender takes it and resends the same bytes with the same
Message-ID (the window between the server's 250 and the `sent` mark, as for digests, mail/ledger.py).

Retries: a transient failure (server down, 4xx, a timeout) puts the row back to `pending` with a "not
before" time: 1 min, 5 min, 30 min, 2 h, 12 h; after the sixth attempt, or at once on a permanent refusal
(5xx), it is `failed`.  The on-site list (/notifications) has every notification whatever its email did.

Transport: `mail/smtp.open_session`, the digests' and confirmations' code, so with no SMTP server
configured the emails land in the local outbox (`mail/outbox.py`) like all other mail.

Latency: `poke()` wakes every sender of this process at once (a comment posted to a single-process
`serve` is mailed within milliseconds); senders in other processes find it on their next poll
(`POLL` = 2 s; one indexed SELECT each time, measured ~0.2 ms on SQLite).
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta

from paperfeed.discussion.notify import render_email
from paperfeed.mail.settings import MailSettings
from paperfeed.mail.smtp import Outcome, SmtpConfigError, open_session
from paperfeed.store import discussion as sql
from paperfeed.store import notifications as notes
from paperfeed.store.notifications import utcnow
from paperfeed.store.papers import Store

log = logging.getLogger(__name__)

RETRY_AFTER = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
               timedelta(hours=12))
LEASE = timedelta(minutes=10)
POLL = 2.0  # seconds between looks for owed emails (a poke from this process wakes a sender at once)
BATCH = 100

_senders: weakref.WeakSet[NotificationSender] = weakref.WeakSet()
_senders_lock = threading.Lock()


@dataclass
class SendReport:
    sent: int = 0  # handed over (250 from the server, or written to the outbox)
    retried: int = 0  # transient failure: pending again, with a later "not before"
    failed: int = 0  # refused for good, or out of attempts
    skipped: int = 0  # nothing to send any more: the comment was hidden or deleted, or emails turned off

    def any(self) -> bool:
        return bool(self.sent or self.retried or self.failed or self.skipped)


def send_pending(store: Store, settings: MailSettings, secret: str, *, now: datetime | None = None,
                 retry_after: tuple[timedelta, ...] = RETRY_AFTER, lease: timedelta = LEASE,
                 limit: int = BATCH) -> SendReport:
    """One round: claim and send every email owed at `now` (at most `limit`), over one SMTP session."""
    now = now or utcnow()
    report = SendReport()
    ids = notes.pending_ids(store, limit, now)
    if not ids:
        return report
    settings = settings.beside(store.location or store.path)  # no SMTP server: this database's outbox
    with open_session(settings) as session:
        for nid in ids:
            claimed = notes.claim(store, nid, lease, now)
            if claimed is None:  # another sender has it
                continue
            note, address, attempt = claimed
            comment = sql.get_comment(store, note.comment_id)
            if comment is None or not comment.visible or not notes.email_enabled(store, note.user_id):
                notes.finish(store, nid, "off")  # hidden or deleted since, or the member said no emails
                report.skipped += 1
                continue
            try:
                msg = render_email(store, note, address, settings, secret)
            except Exception:  # noqa: BLE001 - never leave a claimed row behind in `sending`
                log.exception("notification %d could not be rendered", nid)
                notes.finish(store, nid, "failed")
                report.failed += 1
                continue
            try:
                result = session.send(msg, address)
            except SmtpConfigError as e:  # no message can go (bad login, TLS): try again later, stop this round
                log.error("notification emails: %s", e)
                _again(store, nid, attempt, now, retry_after, report)
                return report
            if result.delivered:
                notes.finish(store, nid, "sent")
                report.sent += 1
            elif result.outcome is Outcome.permanent:
                log.warning("notification %d refused: %s", nid, result.detail)
                notes.finish(store, nid, "failed")
                report.failed += 1
            else:
                log.warning("notification %d not sent (attempt %d): %s", nid, attempt, result.detail)
                _again(store, nid, attempt, now, retry_after, report)
                if result.detail.startswith("CONNECT:"):
                    return report  # the server is down: the rest waits for a later round
    return report


def _again(store: Store, nid: int, attempt: int, now: datetime, retry_after: tuple[timedelta, ...],
           report: SendReport) -> None:
    if attempt > len(retry_after):
        notes.finish(store, nid, "failed")
        report.failed += 1
    else:
        notes.finish(store, nid, "pending", retry_at=now + retry_after[attempt - 1])
        report.retried += 1


def poke() -> None:
    """Wake every sender of this process (a comment has just recorded notifications)."""
    with _senders_lock:
        senders = list(_senders)
    for s in senders:
        s.wake.set()


class NotificationSender:
    """`send_pending` in a daemon thread: after each poke, and every `interval` seconds.  A failed round is
    logged and the next one tries again (the rows keep what is owed), so the server never dies of mail."""

    def __init__(self, store: Store, settings: MailSettings, secret: str, *, interval: float = POLL,
                 retry_after: tuple[timedelta, ...] = RETRY_AFTER, lease: timedelta = LEASE, name: str = ""):
        self.store, self.settings, self.secret = store, settings, secret
        self.interval, self.retry_after, self.lease = interval, retry_after, lease
        self.wake = threading.Event()
        self._stop = threading.Event()
        self.total = SendReport()
        self.thread = threading.Thread(target=self._loop, name=f"paperfeed-notify{name}", daemon=True)

    def start(self) -> NotificationSender:
        with _senders_lock:
            _senders.add(self)
        self.thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        with _senders_lock:
            _senders.discard(self)
        self._stop.set()
        self.wake.set()
        self.thread.join(timeout)

    def __enter__(self) -> NotificationSender:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run_once(self) -> SendReport:
        r = send_pending(self.store, self.settings, self.secret, retry_after=self.retry_after, lease=self.lease)
        for k in ("sent", "retried", "failed", "skipped"):
            setattr(self.total, k, getattr(self.total, k) + getattr(r, k))
        return r

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.wake.clear()
            try:
                r = self.run_once()
                if r.retried or r.failed:
                    log.warning("notification emails: sent %d, retried %d, failed %d", r.sent, r.retried, r.failed)
            except Exception:  # noqa: BLE001 - logged; the next round retries
                log.exception("notification emails: the round failed; trying again in %s s", self.interval)
            self.wake.wait(self.interval)


def start_sender(store: Store, settings: MailSettings | None, secret: str,
                 interval: float = POLL) -> NotificationSender | None:
    """What `paperfeed serve` calls: the sender, unless mail is off (no mail settings at all: the
    notifications are then recorded with their email `off` and shown on the site only)."""
    if settings is None:
        return None
    return NotificationSender(store, settings, secret, interval=interval).start()
