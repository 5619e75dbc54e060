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


@dataclass
class WebSettings:
    page_size: int = 20
    secret: str | None = None  # None: PAPERFEED_SECRET, else one generated and kept in the store
    https_only_cookies: bool = False  # set True behind TLS
    rate_limits: dict[str, tuple[int, float]] = field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))
    min_password_chars: int = 8
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
