"""Rate limits and log-in failures in the store (tables `rate_buckets`, `login_failures`).

Kept in the database rather than in each process, so the configured burst holds exactly however many
workers (and, on a shared database, nodes) serve: every decision is one write transaction, which
SQLite serialises (`BEGIN IMMEDIATE`) and PostgreSQL will with a row lock.  Nothing is ever wiped
for everyone: a bucket that has refilled (`full_at` passed) is the same as no bucket and is deleted;
a log-in failure record is deleted once it is a day old and unlocked.
"""

from __future__ import annotations

import random

from sqlalchemy import delete, insert, select, update

from paperfeed.store.papers import Store
from paperfeed.store.schema import login_failures, rate_buckets

CLEAN_EVERY = 200  # one write in this many also deletes expired rows (an indexed range delete)


def take(store: Store, action: str, client: str, burst: int, rate: float, now: float) -> bool:
    """Take one token from the (action, client) bucket: True when there was one."""
    client = client[:128]
    with store.write() as conn:
        row = conn.execute(select(rate_buckets.c.tokens, rate_buckets.c.stamp)
                           .where(rate_buckets.c.action == action, rate_buckets.c.client == client)).first()
        tokens = float(burst) if row is None else min(float(burst), row.tokens + max(0.0, now - row.stamp) * rate)
        if tokens < 1.0:
            return False  # nothing to write: the refill is computed from the stamp next time
        tokens -= 1.0
        full_at = now + (burst - tokens) / rate if rate > 0 else float("inf")
        values = {"tokens": tokens, "stamp": now, "full_at": full_at}
        if row is None:
            conn.execute(insert(rate_buckets).values(action=action, client=client, **values))
        else:
            conn.execute(update(rate_buckets).where(rate_buckets.c.action == action, rate_buckets.c.client == client)
                         .values(**values))
        if random.randrange(CLEAN_EVERY) == 0:
            conn.execute(delete(rate_buckets).where(rate_buckets.c.full_at < now))
        return True


def bucket_count(store: Store) -> int:
    with store.read() as conn:
        return len(conn.execute(select(rate_buckets.c.action)).all())


def expire_buckets(store: Store, now: float) -> int:
    """Delete every bucket that has refilled (what `take` does now and then); how many."""
    with store.write() as conn:
        return int(conn.execute(delete(rate_buckets).where(rate_buckets.c.full_at < now)).rowcount)


def locked_until(store: Store, key: str) -> float:
    """When the account name `key` may try again (0: now)."""
    with store.read() as conn:
        v = conn.execute(select(login_failures.c.locked_until).where(login_failures.c.key == key)).scalar()
    return float(v or 0.0)


def record_failure(store: Store, key: str, now: float, free: int, base: float, cap: float) -> tuple[int, float]:
    """Count one more failed log-in for `key`, atomically; (failures, locked until).  The first `free`
    failures lock nothing; each one after locks for `base` seconds, doubling, at most `cap`."""
    with store.write() as conn:
        n = conn.execute(select(login_failures.c.failures).where(login_failures.c.key == key)).scalar()
        failures = int(n or 0) + 1
        until = now + min(cap, base * 2 ** (failures - free - 1)) if failures > free else 0.0
        values = {"failures": failures, "locked_until": until, "updated_at": now}
        if n is None:
            conn.execute(insert(login_failures).values(key=key, **values))
        else:
            conn.execute(update(login_failures).where(login_failures.c.key == key).values(**values))
        if random.randrange(CLEAN_EVERY) == 0:
            conn.execute(delete(login_failures).where(login_failures.c.updated_at < now - 86400,
                                                      login_failures.c.locked_until < now))
    return failures, until


def clear_failures(store: Store, key: str) -> None:
    with store.write() as conn:
        conn.execute(delete(login_failures).where(login_failures.c.key == key))
