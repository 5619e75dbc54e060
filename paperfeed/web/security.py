"""Security primitives of the site: password hashing, CSRF tokens, rate limits.

- The session secret is `paperfeed.store.secret.site_secret` (shared with the links in emails).
- Passwords are hashed with argon2id (argon2-cffi defaults).  A log-in for an unknown email still
  runs one verification against a dummy hash, so timing does not reveal whether an account exists.
- CSRF: a random token bound to the (signed) session; every form carries it and every POST checks
  it in constant time.
- Rate limits: a token bucket per (client address, action), in memory: enough for one process.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("paperfeed-dummy-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; with no hash (unknown account) burn the same time and say no."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


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
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class RateLimiter:
    """Token buckets: `limits[action] = (burst, refill per second)`; unknown actions are unlimited."""

    limits: dict[str, tuple[int, float]]
    _buckets: dict[tuple[str, str], _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def allow(self, action: str, client: str, now: float | None = None) -> bool:
        if action not in self.limits:
            return True
        burst, rate = self.limits[action]
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._buckets) > 100_000:  # bound memory under a flood of addresses
                self._buckets.clear()
            b = self._buckets.get((action, client))
            if b is None:
                b = self._buckets[(action, client)] = _Bucket(float(burst), now)
            b.tokens = min(float(burst), b.tokens + (now - b.stamp) * rate)
            b.stamp = now
            if b.tokens < 1.0:
                return False
            b.tokens -= 1.0
            return True
