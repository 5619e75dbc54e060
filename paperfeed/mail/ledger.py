"""The durable delivery ledger (`digests`, `digest_items`): what is owed, who is sending it, what was sent.

Exactly once, as far as SMTP allows, comes from the order of writes:

  1. plan    a row (status `planned`, or `empty` when there is nothing to send) and its picks are
             committed BEFORE anything is sent; the unique (subscriber, period) makes a second planner
             (another process, a rerun) a no-op.
  2. claim   one write transaction (on SQLite BEGIN IMMEDIATE: the database's write lock is held from its
             first statement) moves owed rows to `sending` with claimed_by = host:pid and a lease.  Two senders
             never claim the same row: the second one waits for the lock and then sees `sending`.
  3. send    then `mark_sent` commits right after the server's 250, one commit per message, nothing
             in between.  The only window left: the process dies after the 250 and before that commit.
  4. reclaim a row left in `sending` by a process that is gone (its pid is not alive on this host, or its
             lease expired) is claimed again and resent with the same Message-ID and, because the digest is
             rebuilt from its stored picks (`load`), the same bytes.  Such claims are counted as `resent`:
             each may be a second copy, from the window above.

Transient failures go to `retry` with exponential backoff and jitter (`next_attempt_at`), so a run never
sleeps for minutes; a permanent failure marks the digest `failed` and the subscriber `bounced`.
The SQL of each step is in `paperfeed.store.ledger`.
"""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from paperfeed.mail.model import Digest, Period, Pick, message_id
from paperfeed.mail.subscriptions import Subscriptions, utcnow
from paperfeed.store import ledger as sql
from paperfeed.store.papers import Store

OWED = sql.OWED
STATUSES = ("planned", "sending", "sent", "empty", "retry", "failed")
LEASE = timedelta(minutes=15)
BACKOFF_BASE = timedelta(minutes=2)
BACKOFF_CAP = timedelta(hours=6)
MAX_ATTEMPTS = 8  # transient failures; then the digest is given up (`failed`), the address is left alone
_CHUNK = 500


def this_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_is_dead(owner: str | None, host: str) -> bool:
    """True when `owner` (host:pid) is a process of this host that no longer runs."""
    if not owner:
        return True
    owner_host, _, pid_text = owner.rpartition(":")
    if owner_host != host or not pid_text.isdigit():
        return False  # another host's process: only its lease can tell
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Delay before attempt `attempts + 1`: 2, 4, 8 … minutes (capped at 6 h), with "equal jitter"
    (half fixed, half random) so that a server's outage does not bring every retry back at one instant."""
    base = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempts - 1)))
    return base / 2 + base / 2 * (rng or random).random()


@dataclass(frozen=True)
class PlanCounts:
    planned: int = 0
    empty: int = 0
    existing: int = 0  # already in the ledger (another planner, an earlier run)


@dataclass(frozen=True)
class Claim:
    digest_id: int
    subscriber_id: int
    message_id: str
    attempts: int  # including this one
    resend: bool  # it was abandoned in `sending`: the server may already have a copy


class Ledger:
    def __init__(self, store: Store, owner: str | None = None, lease: timedelta = LEASE):
        self.store = store
        self.owner = owner or this_owner()
        self.lease = lease

    # -- 1. plan ---------------------------------------------------------------------------------

    def plan(self, items: Iterable[Digest], domain: str, now: datetime | None = None) -> PlanCounts:
        """Record digests before anything is sent: one transaction per chunk of 500."""
        now = now or utcnow()
        planned = empty = existing = 0
        chunk: list[Digest] = []

        def flush() -> None:
            nonlocal planned, empty, existing
            rows = [sql.PlannedRow(
                d.subscriber.id, d.period.key, d.period.window_start, d.period.window_end, d.period.due_at,
                "empty" if d.empty and not d.subscriber.prefs.send_empty else "planned",
                message_id(d.subscriber.id, d.period.key, domain),
                [(p.paper_pk, p.section, p.reason) for p in d.picks]) for d in chunk]
            for row, inserted in zip(rows, sql.plan_chunk(self.store, rows, now), strict=True):
                if not inserted:
                    existing += 1
                elif row.status == "empty":
                    empty += 1
                else:
                    planned += 1
            chunk.clear()

        for d in items:
            chunk.append(d)
            if len(chunk) >= _CHUNK:
                flush()
        if chunk:
            flush()
        return PlanCounts(planned, empty, existing)

    def existing_periods(self, subscriber_ids: Sequence[int]) -> set[tuple[int, str]]:
        """(subscriber, period) pairs already in the ledger: the runner skips building them again."""
        return sql.existing_periods(self.store, subscriber_ids)

    def last_window_end(self, subscriber_ids: Sequence[int]) -> dict[int, date]:
        """The end of the newest window each subscriber's digests already cover (sent, owed or empty), so
        the schedule starts the next window there (a change of frequency never covers days twice)."""
        return sql.last_window_end(self.store, subscriber_ids)

    # -- 2. claim --------------------------------------------------------------------------------

    def claim(self, limit: int = 100, now: datetime | None = None) -> list[Claim]:
        """Atomically take up to `limit` owed digests (planned, retry that is due, abandoned sending),
        oldest due first.  Digests of subscribers who left (unsubscribed, bounced) are closed as failed.
        `now` decides which retries are due (a run may act as of another instant: `digest run --now`);
        leases are about live processes, so they always run on the wall clock."""
        now = now or utcnow()
        wall = utcnow()
        host = socket.gethostname()
        take = sql.claim(self.store, self.owner, limit, now, wall, wall + self.lease,
                         lambda owner: _owner_is_dead(owner, host))
        return [Claim(r.id, r.subscriber_id, r.message_id, r.attempts + 1, r.status == "sending") for r in take]

    def renew(self, digest_ids: Sequence[int]) -> None:
        """Extend the lease of rows this process still holds (a long batch, a slow server)."""
        sql.renew(self.store, self.owner, digest_ids, utcnow() + self.lease)

    def release(self, claims: Sequence[Claim]) -> None:
        """Give back claims this process will not attempt (config error, server down): planned again, or
        abandoned `sending` again for a resend, so the next run's count of possible second copies stays right."""
        sql.release(self.store, self.owner, {c.digest_id: c.resend for c in claims})

    # -- 3. record the outcome -------------------------------------------------------------------

    def mark_sent(self, digest_id: int, now: datetime | None = None) -> bool:
        """Right after the server's 250: its own commit, nothing else in the transaction."""
        return sql.finish(self.store, digest_id, "sent", sent_at=now or utcnow(), last_error=None)

    @contextmanager
    def sent_recorder(self) -> Iterator[Callable[[int], bool]]:
        """`mark_sent` for a send loop, on one connection held for the whole loop: after a 250 the process
        does only a prepared UPDATE and its COMMIT (tens of microseconds), with no pool checkout and no SQL
        compilation, which keeps the 250 -> commit window as small as this design can make it."""
        with sql.sent_recorder(self.store) as record:
            yield record

    def mark_retry(self, digest_id: int, error: str, attempts: int, now: datetime | None = None,
                   rng: random.Random | None = None) -> str:
        """A transient failure: try again after a backoff; after MAX_ATTEMPTS give up.  The new status."""
        now = now or utcnow()
        status = "failed" if attempts >= MAX_ATTEMPTS else "retry"
        sql.finish(self.store, digest_id, status, last_error=error[:2000],
                   next_attempt_at=now + backoff(attempts, rng) if status == "retry" else None)
        return status

    def mark_failed(self, digest_id: int, error: str, subscriber_id: int | None = None) -> None:
        """A permanent failure: the digest is not sent; with `subscriber_id`, the address is marked bounced
        (Subscriptions.mark_bounced) so no later digest is tried."""
        sql.finish(self.store, digest_id, "failed", last_error=error[:2000])
        if subscriber_id is not None:
            Subscriptions(self.store).mark_bounced(subscriber_id, error)

    # -- reading ---------------------------------------------------------------------------------

    def load(self, digest_id: int) -> Digest:
        return self.load_many([digest_id])[digest_id]

    def load_many(self, digest_ids: Sequence[int]) -> dict[int, Digest]:
        """Digests rebuilt from the ledger (row + stored picks + the papers), so a resend renders the very
        message the first attempt rendered."""
        rows, items = sql.load_many(self.store, digest_ids)
        people = Subscriptions(self.store).many([r.subscriber_id for r in rows])
        papers = self.store.get_many(sorted({i.paper_pk for i in items}))
        picks: dict[int, list[Pick]] = {}
        for i in items:
            if i.paper_pk in papers:
                picks.setdefault(i.digest_id, []).append(Pick(i.paper_pk, papers[i.paper_pk], i.section, i.reason))
        out: dict[int, Digest] = {}
        for r in rows:
            sub = people.get(r.subscriber_id)
            if sub is None:
                continue
            period = Period(r.period, r.window_start, r.window_end, r.due_at)
            out[r.id] = Digest(sub, period, tuple(picks.get(r.id, ())))
        return out

    def status_counts(self) -> dict[str, int]:
        return sql.status_counts(self.store)
