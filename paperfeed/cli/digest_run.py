"""`paperfeed digest run [--now ISO] [--connections N] [--processes N]`: build and send every digest that is due.

Prints one line (planned, empty, sent, retried, failed, resent).  Exit 1 with one line on stderr for
settings that cannot work (bad PAPERFEED_SMTP_*, a login the server refuses) or an unreadable database.
"""

from __future__ import annotations

import typer


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def run(
    ctx: typer.Context,
    now: str | None = typer.Option(None, "--now", help="Act as if it were this instant (ISO, UTC), e.g. "
                                   "2026-06-02T09:00; default: now."),
    connections: int = typer.Option(1, "--connections", min=1, max=16, help="SMTP connections per process."),
    processes: int = typer.Option(1, "--processes", min=1, max=16, help="Sending processes (rendering is "
                                  "CPU-bound: use about one per core for large runs)."),
) -> None:
    """Build and send every digest that is due; print what happened.  SMTP settings come from the
    PAPERFEED_SMTP_* environment variables (see `paperfeed/mail/settings.py`)."""
    from datetime import UTC, datetime

    from paperfeed.core import Paperfeed
    from paperfeed.mail.runner import run_due
    from paperfeed.mail.settings import MailSettings
    from paperfeed.mail.smtp import SmtpConfigError

    try:
        settings = MailSettings.from_env()
    except ValueError as e:
        raise _fail(f"SMTP settings: {e}") from None
    when = None
    if now is not None:
        try:
            when = datetime.fromisoformat(now)
        except ValueError:
            raise _fail(f"--now {now!r} is not an ISO date-time (e.g. 2026-06-02T09:00)") from None
        if when.tzinfo is not None:
            when = when.astimezone(UTC).replace(tzinfo=None)
    db = ctx.find_root().params.get("db")
    try:
        pf = Paperfeed(db)
    except Exception as e:  # noqa: BLE001 - not a database, unwritable directory: one line
        raise _fail(f"cannot open database {db or ''}: {e}") from None
    try:
        report = run_due(pf, settings, when, connections=connections, processes=processes)
    except SmtpConfigError as e:
        raise _fail(str(e)) from None
    finally:
        pf.close()
    typer.echo(report.line())
    for message in report.errors:
        typer.echo(f"warning: {message}", err=True)
