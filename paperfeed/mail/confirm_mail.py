"""The confirmation email of double opt-in, and the reminder a known address gets instead.

Subscribing with an address that is already active must look exactly like subscribing a new one
(no subscriber enumeration), yet mail the owner something useful: a link to their preferences.
So `/subscribe` always sends one of two short messages, both plain text + HTML, no remote content.

Sending is one SMTP session per message through the delivery code's `SmtpSession` (same settings,
TLS and failure classification as the digests); every failure to hand the message over (refused
connection, timeout, 4xx/5xx, bad credentials) becomes `MailNotSent`.
"""

from __future__ import annotations

import html
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from paperfeed.mail.links import PURPOSES, Links
from paperfeed.mail.settings import MailSettings
from paperfeed.mail.smtp import Outcome, SmtpConfigError, SmtpSession
from paperfeed.mail.subscriptions import Subscriber

CONFIRM_DAYS = PURPOSES["confirm"] // (24 * 3600)


class MailNotSent(RuntimeError):
    """The SMTP server could not be reached or refused the message (`permanent`: refused this address)."""

    def __init__(self, detail: str, permanent: bool = False):
        super().__init__(detail)
        self.permanent = permanent


def short_message(to: str, settings: MailSettings, subject: str, lines: list[str], link: tuple[str, str]) -> \
        EmailMessage:
    """One short message to `to`: paragraphs `lines` and one call-to-action `link` = (label, url).
    Also the account emails' form (`paperfeed.accounts.verify`)."""
    label, url = link
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid("subscribe", domain=settings.mail_domain)
    msg["Auto-Submitted"] = "auto-generated"
    text = "\n\n".join([*lines, f"{label}:\n{url}", "-- \npaperfeed"]) + "\n"
    msg.set_content(text)
    paras = "".join(f'<p style="margin:0 0 12px">{html.escape(line)}</p>' for line in lines)
    body = (f'<!doctype html><html><body style="font-family:Arial,sans-serif;color:#1a1a1a;line-height:1.5">'
            f"{paras}"
            f'<p style="margin:16px 0"><a href="{html.escape(url)}" style="background:#0b57a4;color:#ffffff;'
            f'padding:8px 14px;border-radius:4px;text-decoration:none">{html.escape(label)}</a></p>'
            f'<p style="margin:0 0 12px;color:#4a4a4a;font-size:13px">Or paste this address into your browser: '
            f"{html.escape(url)}</p></body></html>")
    msg.add_alternative(body, subtype="html")
    return msg


def render_confirmation(sub: Subscriber, settings: MailSettings, links: Links) -> EmailMessage:
    """Please confirm: the only message a pending address gets until its owner clicks."""
    return short_message(sub.email, settings, "Confirm your paperfeed digest subscription", [
        f"Someone (hopefully you) asked to receive paperfeed's digest of new and trending papers at {sub.email}.",
        f"Nothing will be sent until you confirm. The link works for {CONFIRM_DAYS} days; "
        "if you did not ask for this, ignore this message.",
    ], ("Confirm my subscription", links.confirm_url(sub.id, sub.link_version)))


def render_reminder(sub: Subscriber, settings: MailSettings, links: Links) -> EmailMessage:
    """For an address that is already subscribed: where to change what it gets."""
    return short_message(sub.email, settings, "Your paperfeed digest subscription", [
        f"Someone (hopefully you) asked to subscribe {sub.email} to paperfeed's digest. "
        "This address is already subscribed, so nothing changed.",
        "You can change how often and what you receive, or unsubscribe, on your preferences page.",
    ], ("Open my preferences", links.manage_url(sub.id)))


def send_message(msg: EmailMessage, settings: MailSettings) -> None:
    """Hand one message to the configured SMTP server (one session of `smtp.py`), or raise `MailNotSent`."""
    try:
        with SmtpSession(settings) as session:
            result = session.send(msg, str(msg["To"]))
    except SmtpConfigError as e:
        raise MailNotSent(str(e)) from None
    if not result.delivered:
        raise MailNotSent(result.detail, permanent=result.outcome is Outcome.permanent)
