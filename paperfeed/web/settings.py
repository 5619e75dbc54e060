"""Settings of the web app, with defaults fit for one self-hosted process."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from paperfeed.mail.settings import MailSettings

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
}


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
