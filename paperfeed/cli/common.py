"""What every `paperfeed` command shares: the one-line user error, the settings, opening the core, `--now`.

The process's environment is read here, once (`settings`), and everything the commands start gets the
resulting `Settings` object.

Kept apart from `main.py` because `python -m paperfeed.cli.main` runs that file as `__main__`: a
subcommand importing it would get a second copy with its own `UserError` class, which `main()` would
then fail to catch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from paperfeed import process_settings

if TYPE_CHECKING:
    from paperfeed.core import Paperfeed
    from paperfeed.mail.settings import MailSettings
    from paperfeed.settings import Settings

_settings: dict[tuple[str, str], Settings] = {}
_options: dict[str, Path | str | None] = {"db": None, "index_dir": None}


def configure(db: Path | str | None, index_dir: Path | str | None) -> None:
    """The root command's `--db` and `--index-dir` (which win over $PAPERFEED_DB, $PAPERFEED_INDEX_DIR)."""
    _options.update(db=db, index_dir=index_dir)


class UserError(Exception):
    """Anything the user can fix: printed as one line, exit code 1."""


def settings(db: Path | str | None = None) -> Settings:
    """The settings of this process: the environment, read once, with the command-line options winning."""
    from paperfeed.settings import Settings

    db = db or _options["db"]
    index_dir = _options["index_dir"]
    key = (str(db or ""), str(index_dir or ""))
    if key not in _settings:
        try:
            _settings[key] = Settings.from_env(process_settings.environ(), db=db or None, index_dir=index_dir or None)
        except ValueError as e:
            raise UserError(str(e)) from None
    return _settings[key]


def open_core(db: Path | str | None) -> Paperfeed:
    from paperfeed.core import Paperfeed
    from paperfeed.store.engine import DatabaseUnavailable

    s = settings(db)
    try:
        return Paperfeed(s)
    except DatabaseUnavailable as e:  # says which database and why already (PostgreSQL down, refused, …)
        raise UserError(str(e)) from None
    except Exception as e:  # noqa: BLE001 - e.g. not a database, unwritable directory
        raise UserError(f"cannot open database {s.location.display}: {e}") from None


def parse_instant(value: str | None, option: str = "--now") -> datetime | None:
    """An ISO date-time as naive UTC (an offset, if given, is honoured); None stays None."""
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option} {value!r} is not an ISO date-time (e.g. 2026-06-02T09:00)") from None
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo is not None else when


def mail_settings() -> MailSettings:
    s = settings()
    if s.mail is None:
        raise UserError(f"mail settings: {s.mail_error}")
    return s.mail
