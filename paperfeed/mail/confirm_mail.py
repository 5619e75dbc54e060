"""The confirmation email of double opt-in, and the reminder a known address gets instead.

Subscribing with an address that is already active must look exactly like subscribing a new one
(no subscriber enumeration), yet mail the owner something useful: a link to their preferences.
So `/subscribe` always sends one of two short messages, both plain text + HTML, no remote content.

Sending is one SMTP session per message.  Until the delivery engineer's `smtp.py` offers a shared
sender, `send_message` is the few lines of smtplib needed here; every failure to hand the message
over (refused connection, timeout, 4xx/5xx) becomes `MailNotSent` with a message fit for a page.
"""

from __future__ import annotations

import html
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from paperfeed.mail.links import PURPOSES, Links
from paperfeed.mail.settings import MailSettings
from paperfeed.mail.subscriptions import Subscriber

CONFIRM_DAYS = PURPOSES["confirm"] // (24 * 3600)


class MailNotSent(RuntimeError):
    """The SMTP server could not be reached or refused the message."""


def _message(sub: Subscriber, settings: MailSettings, subject: str, lines: list[str], link: tuple[str, str]) -> \
        EmailMessage:
    """One short message: paragraphs `lines` and one call-to-action `link` = (label, url)."""
    label, url = link
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = sub.email
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
    return _message(sub, settings, "Confirm your paperfeed digest subscription", [
        f"Someone (hopefully you) asked to receive paperfeed's digest of new and trending papers at {sub.email}.",
        f"Nothing will be sent until you confirm. The link works for {CONFIRM_DAYS} days; "
        "if you did not ask for this, ignore this message.",
    ], ("Confirm my subscription", links.confirm_url(sub.id)))


def render_reminder(sub: Subscriber, settings: MailSettings, links: Links) -> EmailMessage:
    """For an address that is already subscribed: where to change what it gets."""
    return _message(sub, settings, "Your paperfeed digest subscription", [
        f"Someone (hopefully you) asked to subscribe {sub.email} to paperfeed's digest. "
        "This address is already subscribed, so nothing changed.",
        "You can change how often and what you receive, or unsubscribe, on your preferences page.",
    ], ("Open my preferences", links.manage_url(sub.id)))


def send_message(msg: EmailMessage, settings: MailSettings) -> None:
    """Hand one message to the configured SMTP server, or raise `MailNotSent`."""
    try:
        if settings.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                                  context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with smtp:
            if settings.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if settings.user:
                smtp.login(settings.user, settings.password or "")
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as e:
        raise MailNotSent(f"{type(e).__name__}: {e}") from None
