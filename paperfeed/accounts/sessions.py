"""Server-side sessions: the cookie holds a random id, the store holds its hash and the facts.

A session is valid while its row exists, is not revoked, has been used within the idle limit and is
younger than the absolute limit (`WebSettings.session_idle_days`, `session_max_days`: 7 and 30 by
default).  Log-out revokes the row, so a copy of the cookie made before it opens nothing after;
"log out everywhere" and a password change revoke every row of the account.  Log-in always makes a
new id (no fixation).  `last_seen_at` is written at most once a minute per session, so reading pages
as a member does not turn every request into a write.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from paperfeed.store.accounts import AccountStore, User, secret_hash, utcnow

TOUCH_EVERY = timedelta(minutes=1)
PURGE_EVERY = 50  # one log-in in this many also deletes dead session rows, so the table stays small


@dataclass(frozen=True)
class SessionPolicy:
    accounts: AccountStore
    idle: timedelta = timedelta(days=7)
    absolute: timedelta = timedelta(days=30)

    def start(self, user_id: int, user_agent: str = "") -> str:
        """A new session for the user: the id to put in the cookie (only its hash is stored)."""
        sid = secrets.token_urlsafe(32)
        self.accounts.create_session(user_id, secret_hash(sid), user_agent)
        if random.randrange(PURGE_EVERY) == 0:
            now = utcnow()
            self.accounts.purge_sessions(now - self.absolute, now - timedelta(days=1))
        return sid

    def user(self, sid: str, now: datetime | None = None) -> User | None:
        """The user of a live session, or None (unknown, revoked, idle too long or too old)."""
        if not sid or len(sid) > 100:
            return None
        now = now or utcnow()
        h = secret_hash(sid)
        rec = self.accounts.session(h)
        if rec is None or rec.revoked_at is not None:
            return None
        if now - rec.last_seen_at > self.idle or now - rec.created_at > self.absolute:
            self.accounts.revoke_session(h)
            return None
        if now - rec.last_seen_at > TOUCH_EVERY:
            self.accounts.touch_session(h, now)
        return self.accounts.user(rec.user_id)

    def end(self, sid: str) -> None:
        self.accounts.revoke_session(secret_hash(sid))

    def end_all(self, user_id: int, keep_sid: str | None = None) -> int:
        return self.accounts.revoke_sessions(user_id, secret_hash(keep_sid) if keep_sid else None)
