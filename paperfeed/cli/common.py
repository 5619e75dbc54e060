"""What every `paperfeed` command shares: the one-line user error, opening the core, reading `--now`.

Kept apart from `main.py` because `python -m paperfeed.cli.main` runs that file as `__main__`: a
subcommand importing it would get a second copy with its own `UserError` class, which `main()` would
then fail to catch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paperfeed.core import Paperfeed
    from paperfeed.mail.settings import MailSettings


class UserError(Exception):
    """Anything the user can fix: printed as one line, exit code 1."""


def open_core(db: Path | str | None) -> Paperfeed:
    from paperfeed.core import Paperfeed

    try:
        return Paperfeed(Path(db) if db else None)
    except Exception as e:  # noqa: BLE001 - e.g. not a database, unwritable directory
        raise UserError(f"cannot open database {db or ''}: {e}") from None


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
    from paperfeed.mail.settings import MailSettings

    try:
        return MailSettings.from_env()
    except ValueError as e:
        raise UserError(f"mail settings: {e}") from None
