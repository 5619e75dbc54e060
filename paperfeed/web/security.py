"""Security primitives of the site: password hashing, CSRF tokens, rate limits.

- The session secret is `paperfeed.store.secret.site_secret` (shared with the links in emails).
- Passwords: `paperfeed.accounts.passwords` (argon2id, NIST SP 800-63B rules); re-exported here.
- CSRF: a random token bound to the (signed) session cookie; every form carries it and every POST
  checks it in constant time.
- Rate limits: a token bucket per (action, client address) kept in the store (`store/ratelimits.py`), so
  the configured burst holds exactly whatever the number of worker processes or nodes over the database.
  Each decision is one short write transaction (~0.5 ms CPU, `bench/ratelimit_cost.py`); buckets that
  refilled are deleted, never a wholesale wipe.  On SQLite it queues for the one write lock like any
  write (a long ingest transaction delays it), so call it from a thread, never on the event loop.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from paperfeed.accounts.passwords import hash_password, needs_rehash, verify_password
from paperfeed.store import ratelimits
from paperfeed.store.papers import Store

__all__ = ["RateLimiter", "csrf_ok", "csrf_token", "hash_password", "needs_rehash", "verify_password"]


def csrf_token(session: dict) -> str:
    """The session's CSRF token, created on first use."""
    tok = session.get("csrf")
    if not tok:
        tok = session["csrf"] = secrets.token_urlsafe(32)
    return str(tok)


def csrf_ok(session: dict, submitted: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and submitted) and secrets.compare_digest(str(expected), str(submitted))


@dataclass
class RateLimiter:
    """Token buckets: `limits[action] = (burst, refill per second)`; unknown actions are unlimited.

    `allow(action, client)` is the whole interface; it blocks for one write transaction, so call it from
    a thread (sync route), not on the event loop."""

    limits: dict[str, tuple[int, float]]
    store: Store

    def allow(self, action: str, client: str, now: float | None = None) -> bool:
        if action not in self.limits:
            return True
        burst, rate = self.limits[action]
        return ratelimits.take(self.store, action, client, burst, rate, time.time() if now is None else now)
