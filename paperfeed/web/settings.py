"""Settings of the web app, with defaults fit for one self-hosted process."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from paperfeed.mail.settings import MailSettings, base_url_from_env
from paperfeed.web.limits import BODY_TIMEOUT

log = logging.getLogger(__name__)
ARXIV_API_URL = "https://export.arxiv.org/api/query"

# (burst, refill per second): e.g. 10 log-ins at once, then one every 6 seconds.
DEFAULT_RATE_LIMITS: dict[str, tuple[int, float]] = {
    "signup": (5, 1 / 60),
    "login": (10, 1 / 6),
    "upvote": (60, 1.0),
    "submit": (20, 1 / 6),
    "subscribe": (5, 1 / 60),  # each one sends an email: keep the site from being a mail cannon
    "preferences": (30, 1 / 2),
    "profile": (20, 1 / 6),  # the public-profile form (web/profile_settings.py), per client address
    # Comments, per member (web/discussion.py): accounts younger than two days get the harder bucket.
    "comment": (10, 1 / 30),
    "comment_new": (3, 1 / 300),
    "comment_vote": (60, 1.0),
    "report": (10, 1 / 60),
    "claim": (10, 1 / 60),  # authorship claims (web/claims.py): each one lands in an operator's queue
    # Collections (web/collections.py): saving, removing, renaming; a library import parses a whole file.
    "collection": (120, 2.0),
    "library_import": (5, 1 / 60),
    # Costly anonymous reads, counted only when the answer is not cached (README "Hostile input and limits"):
    # one similar-papers or search computation costs 10-80 ms of a core, a search feed up to 50 results.
    "similar": (30, 2.0),
    "search": (60, 5.0),
    "search_feed": (20, 1 / 3),
}
LOCAL_HOSTS = ("localhost", "127.0.0.1")


def mail_from_env() -> MailSettings | None:
    """The PAPERFEED_SMTP_* settings; when they are malformed the papers site still serves, and /subscribe
    says it cannot send mail (the log says why) rather than the whole site failing to start."""
    try:
        return MailSettings.from_env()
    except ValueError as e:
        log.error("mail is off: %s", e)
        return None


def _flag(value: str) -> bool | None:
    v = value.strip().lower()
    return True if v in ("1", "true", "yes", "on") else False if v in ("0", "false", "no", "off") else None


def secure_cookies_from_env() -> bool:
    """PAPERFEED_SECURE_COOKIES (1/0) when set, else on exactly when PAPERFEED_BASE_URL is https: a site
    reached over TLS must never send its session cookie in clear text."""
    flag = _flag(os.environ.get("PAPERFEED_SECURE_COOKIES", ""))
    if flag is not None:
        return flag
    return os.environ.get("PAPERFEED_BASE_URL", "").strip().lower().startswith("https://")


def _float_env(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        log.error("%s is not a number; using %s", name, default)
        return default


@dataclass
class WebSettings:
    page_size: int = 20
    secret: str | None = None  # None: PAPERFEED_SECRET, else one generated and kept in the store
    # The cookie's Secure flag: PAPERFEED_SECURE_COOKIES, default on when PAPERFEED_BASE_URL is https.
    https_only_cookies: bool = field(default_factory=secure_cookies_from_env)
    rate_limits: dict[str, tuple[int, float]] = field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))
    min_password_chars: int = 15  # NIST SP 800-63B-4 for a single-factor password (paperfeed/accounts/passwords.py)
    # Sessions end after this long unused / this long after log-in, whichever comes first.
    session_idle_days: float = field(default_factory=lambda: _float_env("PAPERFEED_SESSION_IDLE_DAYS", 7.0))
    session_max_days: float = field(default_factory=lambda: _float_env("PAPERFEED_SESSION_MAX_DAYS", 30.0))
    # Per-account log-in throttling: free failures, then a lock-out of this many seconds, doubling, capped.
    login_free_failures: int = 5
    login_lockout_seconds: float = 30.0
    login_lockout_max_seconds: float = 3600.0
    # Where a submitted arXiv id missing from the store is fetched; None or "" (PAPERFEED_ARXIV_API="") = never.
    arxiv_api_url: str | None = field(default_factory=lambda: os.environ.get("PAPERFEED_ARXIV_API", ARXIV_API_URL))
    # SMTP and the public base URL for the confirmation emails of /subscribe; None = this site sends no mail.
    mail: MailSettings | None = field(default_factory=lambda: mail_from_env())
    # The site's public address for absolute links (feeds, emails): None = the mail settings' base URL, else
    # $PAPERFEED_BASE_URL, else http://127.0.0.1:8000.  Never the request's Host header.
    base_url: str | None = None
    # Host headers answered (Starlette TrustedHostMiddleware); None = $PAPERFEED_ALLOWED_HOSTS (comma-separated),
    # else the base URL's host plus localhost and 127.0.0.1.  ["*"] turns the check off.
    allowed_hosts: list[str] | None = None
    body_timeout: float = BODY_TIMEOUT  # seconds for a whole request body (web/limits.py)

    def site_url(self) -> str:
        if self.base_url:
            return self.base_url.rstrip("/")
        return self.mail.base_url.rstrip("/") if self.mail else base_url_from_env()

    def trusted_hosts(self) -> list[str]:
        if self.allowed_hosts is not None:
            return list(self.allowed_hosts)
        configured = [h.strip() for h in os.environ.get("PAPERFEED_ALLOWED_HOSTS", "").split(",") if h.strip()]
        if configured:
            return configured
        host = urlsplit(self.site_url()).hostname
        return list(dict.fromkeys([*([host] if host else []), *LOCAL_HOSTS]))
