"""`paperfeed digest run [--now ISO] [--connections N] [--processes N]`: build and send every digest that is due.

Prints one line (planned, empty, sent, retried, failed, resent).  Exit 1 with one line on stderr for
settings that cannot work (bad PAPERFEED_SMTP_*, a login the server refuses) or an unreadable database.
"""

from __future__ import annotations

import typer

from paperfeed.cli.common import UserError, mail_settings, open_core, parse_instant


def run(
    ctx: typer.Context,
    now: str | None = typer.Option(None, "--now", help="Act as if it were this instant (ISO, UTC), e.g. "
                                   "2026-06-02T09:00; default: now."),
    connections: int = typer.Option(1, "--connections", min=1, max=16, help="SMTP connections per process."),
    processes: int = typer.Option(0, "--processes", min=0, max=16, help="Sending processes (rendering is "
                                  "CPU-bound); 0: one per core when 1,000 or more digests are owed, else one."),
) -> None:
    """Build and send every digest that is due; print what happened.  SMTP settings come from the
    PAPERFEED_SMTP_* environment variables (see `paperfeed/mail/settings.py`)."""
    from paperfeed.mail.runner import run_due
    from paperfeed.mail.smtp import SmtpConfigError

    settings = mail_settings()
    when = parse_instant(now)
    pf = open_core(ctx.find_root().params.get("db"))
    try:
        report = run_due(pf, settings, when, connections=connections, processes=processes or None)
    except SmtpConfigError as e:
        raise UserError(str(e)) from None
    finally:
        pf.close()
    typer.echo(report.line())
    for message in report.errors:
        typer.echo(f"warning: {message}", err=True)
