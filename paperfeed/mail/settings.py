"""Mail settings, read from the environment so that no credential ever lives in the repository.

    PAPERFEED_SMTP_HOST      default 127.0.0.1
    PAPERFEED_SMTP_PORT      default 25 (587 with starttls, 465 with ssl)
    PAPERFEED_SMTP_SECURITY  none | starttls | ssl            (default none)
    PAPERFEED_SMTP_USER / PAPERFEED_SMTP_PASSWORD            (optional; log in when set)
    PAPERFEED_SMTP_TIMEOUT   seconds per SMTP command          (default 30)
    PAPERFEED_MAIL_FROM      the From address                  (default paperfeed@localhost)
    PAPERFEED_BASE_URL       the site's public address, used in every link of an email
                             (default http://127.0.0.1:8000)

With neither PAPERFEED_SMTP_HOST nor PAPERFEED_SMTP_PORT set, no SMTP server is configured: messages are
written to the local outbox beside the database (`<db>.outbox/`, mail/outbox.py) and shown at /outbox.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

SECURITY_MODES = ("none", "starttls", "ssl")
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def base_url_from_env(env: Mapping[str, str] = os.environ) -> str:
    """PAPERFEED_BASE_URL without a trailing slash: the site's public address (emails, feeds, allowed hosts)."""
    return (env.get("PAPERFEED_BASE_URL", "").strip() or DEFAULT_BASE_URL).rstrip("/")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
BESIDE_DB = "<beside the database>"  # the outbox folder, until `beside(db_path)` names it


@dataclass(frozen=True)
class MailSettings:
    host: str = "127.0.0.1"
    port: int = 25
    security: str = "none"
    user: str | None = None
    password: str | None = None
    timeout: float = 30.0
    sender: str = "paperfeed@localhost"
    base_url: str = DEFAULT_BASE_URL
    outbox: str | None = None  # a folder: mail is written there instead of sent over SMTP

    @property
    def uses_outbox(self) -> bool:
        return self.outbox is not None

    def beside(self, db: Any) -> MailSettings:
        """These settings with the outbox named for database `db` (no change when SMTP is configured): a SQLite
        path (or its `DbLocation`) -> `<db>.outbox/` beside the file; a PostgreSQL `DbLocation` -> `outbox/` in
        this node's index directory (a server database has no "beside"; each node keeps its own outbox)."""
        if self.outbox != BESIDE_DB or db is None:
            return self
        from paperfeed.config import DbLocation
        from paperfeed.mail.outbox import outbox_dir

        if isinstance(db, DbLocation):
            if not db.is_sqlite:
                return replace(self, outbox=str(db.index_dir / "outbox"))
            db = db.sqlite_path
        return replace(self, outbox=str(outbox_dir(Path(db))))

    @property
    def transport(self) -> str:
        """Where mail goes, for logs and pages: "SMTP server HOST:PORT" or "the outbox FOLDER"."""
        return f"the outbox {self.outbox}" if self.outbox else f"SMTP server {self.host}:{self.port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> MailSettings:
        security = env.get("PAPERFEED_SMTP_SECURITY", "none").strip().lower() or "none"
        if security not in SECURITY_MODES:
            raise ValueError(f"PAPERFEED_SMTP_SECURITY must be one of {', '.join(SECURITY_MODES)}, not {security!r}")
        port_text = env.get("PAPERFEED_SMTP_PORT", "").strip()
        try:
            port = int(port_text) if port_text else DEFAULT_PORTS[security]
            timeout = float(env.get("PAPERFEED_SMTP_TIMEOUT", "30"))
        except ValueError as e:
            raise ValueError(f"PAPERFEED_SMTP_PORT / PAPERFEED_SMTP_TIMEOUT: {e}") from None
        return cls(
            host=env.get("PAPERFEED_SMTP_HOST", "127.0.0.1").strip() or "127.0.0.1",
            port=port,
            security=security,
            user=env.get("PAPERFEED_SMTP_USER") or None,
            password=env.get("PAPERFEED_SMTP_PASSWORD") or None,
            timeout=timeout,
            sender=env.get("PAPERFEED_MAIL_FROM", "paperfeed@localhost"),
            base_url=base_url_from_env(env),
            outbox=None if any(env.get(k, "").strip() for k in ("PAPERFEED_SMTP_HOST", "PAPERFEED_SMTP_PORT"))
            else BESIDE_DB,
        )

    @property
    def mail_domain(self) -> str:
        """The right-hand side of Message-IDs: the From address's domain."""
        return self.sender.rpartition("@")[2] or "localhost"
