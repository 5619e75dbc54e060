"""Every setting of a paperfeed process, read once from the environment into one frozen object.

`Settings.from_env(os.environ)` is called once, where a process starts (the CLI's entry, a test);
everything below receives the object, and worker processes (web workers, the background embedder,
digest senders) get a pickled copy as an argument instead of a rewritten environment.

    PAPERFEED_DB                  a SQLite file or a postgresql:// URL (see paperfeed/config.py)
    PAPERFEED_INDEX_DIR           the derived indexes' folder (default: beside a SQLite file)
    PAPERFEED_SECRET              the site's signing secret (default: generated, kept in the store)
    PAPERFEED_SOURCES             comma-separated inputs ingested by `serve` into an empty database
    PAPERFEED_EMBED_IN_BACKGROUND 0/false/no/off: `serve` embeds nothing in the background
    PAPERFEED_EMBED_THREADS       the background embedder's threads (default: every CPU this process may use)
    PAPERFEED_EMBED_CHUNK         papers per committed background-embedding chunk (default 256)
    PAPERFEED_DIGEST_INTERVAL     minutes between digest runs in `serve` (default 5; 0 = off)
    PAPERFEED_ARXIV_API           where a submitted arXiv id is fetched ("" = never)
    PAPERFEED_PROGRESS            1: progress bars even when stderr is not a terminal
    PAPERFEED_SMTP_*, PAPERFEED_MAIL_FROM, PAPERFEED_BASE_URL   see paperfeed/mail/settings.py

Malformed mail settings or digest interval do not stop the site: the problem is kept (`mail_error`,
`digest_error`), logged by `serve`, and digests and subscription mail are off; `digest run` reports it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from paperfeed.config import DbLocation, locate
from paperfeed.mail.settings import MailSettings
from paperfeed.search.background import CHUNK as EMBED_CHUNK
from paperfeed.search.background import background_threads

if TYPE_CHECKING:  # imported when used: `paperfeed.web` loads the whole web app, which imports the core
    from paperfeed.web.settings import WebSettings

DIGEST_INTERVAL = 5.0


def split_sources(text: str) -> tuple[str, ...]:
    """`PAPERFEED_SOURCES`: comma-separated files or URLs, blanks dropped."""
    return tuple(s.strip() for s in text.split(",") if s.strip())


def flag(text: str | None, default: bool) -> bool:
    if text is None or not text.strip():
        return default
    return text.strip().lower() not in ("0", "false", "no", "off")


def digest_interval(env: Mapping[str, str]) -> float:
    """PAPERFEED_DIGEST_INTERVAL: minutes between scheduled runs in the server (default 5; 0 = off)."""
    text = env.get("PAPERFEED_DIGEST_INTERVAL", "").strip() or str(DIGEST_INTERVAL)
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"PAPERFEED_DIGEST_INTERVAL must be a number of minutes, not {text!r}") from None
    if value < 0:
        raise ValueError("PAPERFEED_DIGEST_INTERVAL must be 0 (off) or more minutes")
    return value


def _web_settings(secret: str | None = None, arxiv_api_url: str | None = None,
                  mail: MailSettings | None = None) -> WebSettings:
    from paperfeed.web.settings import ARXIV_API_URL, WebSettings

    return WebSettings(secret=secret, arxiv_api_url=ARXIV_API_URL if arxiv_api_url is None else arxiv_api_url,
                       mail=mail)


def _embed_chunk(env: Mapping[str, str]) -> int:
    text = env.get("PAPERFEED_EMBED_CHUNK", "").strip()
    try:
        value = int(text) if text else EMBED_CHUNK
    except ValueError:
        raise ValueError(f"PAPERFEED_EMBED_CHUNK must be a whole number of papers, not {text!r}") from None
    if value < 1:
        raise ValueError("PAPERFEED_EMBED_CHUNK must be at least 1")
    return value


@dataclass(frozen=True)
class Settings:
    location: DbLocation
    web: WebSettings = field(default_factory=lambda: _web_settings(mail=MailSettings()))
    mail: MailSettings | None = field(default_factory=MailSettings)  # None: mail_error says why
    mail_error: str | None = None
    secret: str | None = None  # None: generated on first use and kept in the store
    sources: tuple[str, ...] = ()
    embed_in_background: bool = True
    embed_chunk: int = EMBED_CHUNK
    embed_threads: int = 0  # the background embedder's intra-op threads; 0: every CPU this process may use
    digest_interval: float = DIGEST_INTERVAL  # minutes; 0: off
    digest_error: str | None = None
    progress: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, db: str | os.PathLike[str] | DbLocation | None = None,
                 index_dir: str | os.PathLike[str] | None = None) -> Settings:
        """Everything from `env`; `db` and `index_dir` (command-line options) win over their variables.
        Raises ValueError only for a malformed value that nothing can do without (the embed chunk)."""
        try:
            mail: MailSettings | None = MailSettings.from_env(env)
            mail_error = None
        except ValueError as e:
            mail, mail_error = None, str(e)
        try:
            minutes, digest_error = digest_interval(env), None
        except ValueError as e:
            minutes, digest_error = 0.0, str(e)
        secret = env.get("PAPERFEED_SECRET") or None
        web = _web_settings(secret, env.get("PAPERFEED_ARXIV_API"), mail)
        return cls(
            location=locate(db, index_dir, env), web=web, mail=mail, mail_error=mail_error, secret=secret,
            sources=split_sources(env.get("PAPERFEED_SOURCES", "")),
            embed_in_background=flag(env.get("PAPERFEED_EMBED_IN_BACKGROUND"), True),
            embed_chunk=_embed_chunk(env), embed_threads=background_threads(env), digest_interval=minutes,
            digest_error=digest_error,
            progress=env.get("PAPERFEED_PROGRESS") == "1",
        )

    @classmethod
    def for_db(cls, db: str | os.PathLike[str] | DbLocation, index_dir: str | os.PathLike[str] | None = None,
               **overrides: object) -> Settings:
        """Defaults (nothing read from the environment) for the database `db`: what tests and benchmarks use."""
        return replace(cls(location=locate(db, index_dir)), **overrides)  # type: ignore[arg-type]

    @property
    def index_dir(self) -> Path:
        return self.location.index_dir

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]
