"""`paperfeed digest preview EMAIL`: the subscriber's next digest, printed; nothing sent or recorded."""

from __future__ import annotations

import typer

from paperfeed.cli.common import UserError, mail_settings, open_core, parse_instant


def preview(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The subscriber's email address."),
    now: str | None = typer.Option(None, "--now", help="Act as if it were this instant (ISO; UTC unless it "
                                   "names an offset), e.g. 2026-06-02T09:00; default: now."),
    fmt: str = typer.Option("text", "--format", help="text (the plain-text part), html (the HTML part) or "
                            "eml (the whole message)."),
) -> None:
    """Print the next digest EMAIL will receive, exactly as it will be built, without sending or
    recording anything."""
    from paperfeed.mail.digest import next_digest
    from paperfeed.mail.links import Links
    from paperfeed.mail.model import message_id
    from paperfeed.mail.render import render_message
    from paperfeed.mail.subscriptions import Subscriptions, utcnow
    from paperfeed.store.secret import site_secret

    if fmt not in ("text", "html", "eml"):
        raise UserError(f"--format must be text, html or eml, not {fmt!r}")
    when = parse_instant(now) or utcnow()
    settings = mail_settings()
    pf = open_core(ctx.find_root().params.get("db"))
    try:
        sub = Subscriptions(pf.store).by_email(email)
        if sub is None:
            raise UserError(f"no subscriber with the address {email.strip()!r}")
        digest = next_digest(pf, sub, when)
        from paperfeed.mail.why_empty import why_empty

        reasons = why_empty(pf, digest, when.date())
        msg = render_message(digest, settings, Links(site_secret(pf.store, pf.settings.secret), settings.base_url),
                             message_id=message_id(sub.id, digest.period.key, settings.mail_domain),
                             date=digest.period.due_at)
    finally:
        pf.close()
    if fmt == "eml":
        typer.echo(msg.as_string(), nl=False)
        return
    if sub.status != "active" and not reasons:
        typer.echo(f"note: {sub.email} is {sub.status}; nothing is sent until it is active", err=True)
    for r in reasons:
        typer.echo(f"empty: {r}", err=True)
    typer.echo(f"Subject: {msg['Subject']}\nDue: {digest.period.due_at:%Y-%m-%d %H:%M} UTC\n", err=True)
    part = msg.get_body(("plain",) if fmt == "text" else ("html",))
    typer.echo(part.get_content(), nl=False)
