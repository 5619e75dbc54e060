"""Settings of the web app, with defaults fit for one self-hosted process."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from paperfeed.mail.settings import MailSettings

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
    mail: MailSettings | None = field(default_factory=MailSettings.from_env)
