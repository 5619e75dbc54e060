"""Log-in throttling per account name, independent of the client address.

Per-address rate limits (`paperfeed.web.security.RateLimiter`) stop one machine; a botnet trying one
password per address against one account is stopped here.  The key is the SHA-256 of the normalised
email whether or not it has an account, so throttling behaves the same for both and reveals nothing.
The first `free` failures cost nothing; each later one locks the name for `base` seconds, doubling
(30 s, 1 min, 2 min, ... at most `cap`, 1 h by default): about 24 guesses a day once locked, far
under the 100 consecutive failures 800-63B allows.  A successful log-in clears the count.  While
locked, a log-in is refused without checking the password (so a guess made then is not even tried).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from paperfeed.store import ratelimits
from paperfeed.store.accounts import normalise_email
from paperfeed.store.papers import Store


def account_key(email: str) -> str:
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()


@dataclass(frozen=True)
class LoginThrottle:
    store: Store
    free: int = 5
    base: float = 30.0
    cap: float = 3600.0

    def wait(self, email: str, now: float | None = None) -> int:
        """Seconds before this account name may try again (0: it may now)."""
        now = time.time() if now is None else now
        return max(0, math.ceil(ratelimits.locked_until(self.store, account_key(email)) - now))

    def failed(self, email: str, now: float | None = None) -> int:
        """Record a failed log-in; the seconds the name is now locked for (0: not locked)."""
        now = time.time() if now is None else now
        _n, until = ratelimits.record_failure(self.store, account_key(email), now, self.free, self.base, self.cap)
        return max(0, math.ceil(until - now))

    def succeeded(self, email: str) -> None:
        ratelimits.clear_failures(self.store, account_key(email))
