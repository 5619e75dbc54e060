"""`paperfeed digest subscribe EMAIL ...`: the administrator's way to add (or adjust) a subscriber.

The same rules as the site's form (`paperfeed.web.subscribe_forms`, `paperfeed.mail.subscriptions`),
so a bad time zone or query is one line and exit 1, and nothing is written.  Without `--confirm` the
address stays pending (double opt-in): the confirmation link is printed and, unless `--no-send`, mailed
through the PAPERFEED_SMTP_* settings; an unreachable server is a warning, since the printed link works.
With `--confirm` the administrator vouches for the address and it is active at once.
"""

from __future__ import annotations

import typer

from paperfeed.cli.common import UserError, mail_settings, open_core
from paperfeed.mail.subscriptions import Follow, Prefs, SubscriptionError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _checked(email: str, searches: list[str], authors: list[str], categories: list[str], frequency: str,
             day: str, hour: int, timezone: str) -> tuple[str, Prefs, list[Follow]]:
    from paperfeed.mail.subscriptions import check_follow
    from paperfeed.web.subscribe_forms import PrefsForm, check_email

    email = check_email(email)
    weekday = day.strip().lower()[:3]
    if weekday not in DAYS:
        raise SubscriptionError(f"--day must be one of {', '.join(DAYS)}, not {day!r}")
    prefs = PrefsForm(frequency.strip().lower(), str(DAYS.index(weekday)), str(hour), timezone.strip()).prefs()
    follows = [check_follow(kind, value) for kind, values in (("search", searches), ("author", authors),
                                                              ("category", categories)) for value in values]
    return email, prefs, follows


def subscribe(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The subscriber's address."),
    search: list[str] = typer.Option([], "--search", help="A saved search (any query `search` accepts); repeatable."),
    author: list[str] = typer.Option([], "--author", help="An author to follow; repeatable."),
    category: list[str] = typer.Option([], "--category", help="A category to follow, e.g. cs.CL; repeatable."),
    frequency: str = typer.Option("daily", "--frequency", help="daily (weekdays) or weekly."),
    day: str = typer.Option("mon", "--day", help="The weekly digest's day: mon … sun."),
    hour: int = typer.Option(7, "--hour", help="Delivery hour, local time (0-23)."),
    timezone: str = typer.Option("UTC", "--timezone", help="An IANA time zone, e.g. Europe/Berlin."),
    confirm: bool = typer.Option(False, "--confirm", help="Activate at once (skip the confirmation email)."),
    send: bool = typer.Option(True, "--send/--no-send", help="Mail the confirmation link (when not --confirm)."),
) -> None:
    """Subscribe EMAIL to the digest; for an existing subscriber, apply these preferences and add the follows."""
    from paperfeed.mail.confirm_mail import MailNotSent, render_confirmation, send_message
    from paperfeed.mail.links import Links
    from paperfeed.mail.subscriptions import Subscriptions
    from paperfeed.store.secret import site_secret

    try:
        email, prefs, follows = _checked(email, search, author, category, frequency, day, hour, timezone)
    except (SubscriptionError, ValueError) as e:
        raise UserError(str(e)) from None
    settings = mail_settings()
    pf = open_core(ctx.find_root().params.get("db"))
    settings = settings.beside(pf.location)  # no SMTP server configured: the outbox of this database
    try:
        subs = Subscriptions(pf.store)
        sub, created = subs.subscribe(email, prefs, follows_=follows)
        if not created:
            subs.update_prefs(sub.id, prefs)
            for f in follows:
                subs.add_follow(sub.id, f.kind, f.value)
        if confirm:
            sub = subs.confirm(sub.id) or sub
        links = Links(site_secret(pf.store, pf.settings.secret), settings.base_url)
        typer.echo(f"{'added' if created else 'updated'} subscriber {sub.id} {sub.email}: {sub.status}")
        typer.echo(f"preferences: {links.manage_url(sub.id)}")
        if sub.status == "pending":
            typer.echo(f"confirm: {links.confirm_url(sub.id, sub.link_version)}")
            if send:
                try:
                    send_message(render_confirmation(sub, settings, links), settings)
                    typer.echo(f"confirmation email sent to {sub.email}" + (
                        f" (into {settings.transport}: see /outbox)" if settings.uses_outbox else ""))
                except MailNotSent as e:
                    typer.echo(f"warning: the confirmation email was not sent ({e}); pass the link on yourself",
                               err=True)
    except SubscriptionError as e:  # e.g. too many follows on an existing subscriber
        raise UserError(str(e)) from None
    finally:
        pf.close()
