"""One SMTP session (stdlib smtplib): send a message to one recipient and say how it went.

`open_session(settings)` picks the transport: this SMTP session, or `outbox.OutboxSession` (same
interface, same three outcomes) when no SMTP server is configured.

Why classify rather than raise: the ledger needs exactly three answers per message.
  delivered  the server answered 250 to the end of DATA: it took responsibility for the message
  transient  worth trying again later: a 4xx reply, a dropped or refused connection, a timeout
  permanent  5xx for this recipient (on RCPT or DATA): stop sending to the address

One connection carries many messages (one EHLO/STARTTLS/login per run, not per message).  After a
failed transaction the session sends RSET so the next message starts clean; when the connection is
lost it is reopened on the next send.  A connection that the server closed while idle is noticed at
MAIL FROM, before anything of the message was sent, so that one case is retried at once on a new
connection; every other failure is returned for the ledger to schedule (`Ledger.mark_retry`).

A timeout or a dropped connection after the final "." is ambiguous (RFC 1047: the server may have
accepted the message): it is reported as transient, and the resend carries the same Message-ID.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from enum import StrEnum
from typing import TYPE_CHECKING

from paperfeed.mail.settings import MailSettings

if TYPE_CHECKING:
    from paperfeed.mail.outbox import OutboxSession


class Outcome(StrEnum):
    delivered = "delivered"
    transient = "transient"
    permanent = "permanent"


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    code: int | None  # the SMTP reply code, when there was one
    detail: str  # what happened, for the ledger's last_error and bounce_reason

    @property
    def delivered(self) -> bool:
        return self.outcome is Outcome.delivered


class SmtpConfigError(ValueError):
    """The SMTP settings cannot work (the server refuses our login, TLS mode mismatch): no message can be sent,
    so the run stops with one line instead of marking every digest for retry."""


def _reply_text(msg: bytes | str) -> str:
    return (msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)).strip()


def _classify_reply(code: int, text: str, stage: str) -> SendResult:
    detail = f"{stage}: {code} {text}"[:2000]
    if 400 <= code < 500:
        return SendResult(Outcome.transient, code, detail)
    if 500 <= code < 600 and stage in ("RCPT", "DATA"):
        return SendResult(Outcome.permanent, code, detail)
    # 5xx to MAIL FROM is about our sender, not this recipient: never bounce a subscriber for it.
    return SendResult(Outcome.transient, code, detail)


class SmtpSession:
    """A reusable connection to the configured server.  Use as a context manager, or call close()."""

    def __init__(self, settings: MailSettings):
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._dirty = False  # a transaction failed on a live connection: RSET before the next one
        self.connections_opened = 0

    # -- connection ------------------------------------------------------------------------------

    def open(self) -> None:
        """Connect, EHLO, STARTTLS and log in as configured.  OSError / SMTPException when the server is
        unreachable (transient), SmtpConfigError when it refuses our credentials or TLS."""
        s = self.settings
        timeout = s.timeout
        context = ssl.create_default_context() if s.security != "none" else None
        smtp: smtplib.SMTP
        if s.security == "ssl":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=timeout)
        try:
            smtp.ehlo()
            if s.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise SmtpConfigError(f"SMTP server {s.host}:{s.port} does not offer STARTTLS")
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.user:
                try:
                    smtp.login(s.user, s.password or "")
                except smtplib.SMTPAuthenticationError as e:
                    raise SmtpConfigError(f"SMTP server {s.host}:{s.port} refused the login for {s.user!r}: "
                                          f"{e.smtp_code} {_reply_text(e.smtp_error)}") from None
                except smtplib.SMTPNotSupportedError:
                    raise SmtpConfigError(f"SMTP server {s.host}:{s.port} does not accept a login "
                                          "(set PAPERFEED_SMTP_SECURITY=starttls?)") from None
        except BaseException:
            _quietly_close(smtp)
            raise
        self._smtp = smtp
        self._dirty = False
        self.connections_opened += 1

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                _quietly_close(self._smtp)
            self._smtp = None

    def __enter__(self) -> SmtpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drop(self) -> None:
        if self._smtp is not None:
            _quietly_close(self._smtp)
        self._smtp = None

    # -- sending ---------------------------------------------------------------------------------

    def send(self, msg: EmailMessage, recipient: str) -> SendResult:
        """Send `msg` to `recipient` (the envelope recipient; the To header is the renderer's)."""
        data = msg.as_bytes(policy=SMTP_POLICY)  # CRLF line ends, as DATA wants them
        reused = self._smtp is not None
        result = self._transaction(data, recipient)
        if result.outcome is Outcome.transient and reused and result.code is None and \
                result.detail.startswith(("RSET:", "MAIL:")):
            # The server closed the idle connection: nothing of this message was sent yet; try a new one.
            result = self._transaction(data, recipient)
        return result

    def _transaction(self, data: bytes, recipient: str) -> SendResult:
        stage = "CONNECT"
        try:
            if self._smtp is None:
                self.open()
            smtp = self._smtp
            assert smtp is not None
            if self._dirty:
                stage = "RSET"
                smtp.rset()
                self._dirty = False
            stage = "MAIL"
            code, resp = smtp.mail(self.settings.sender)
            if code != 250:
                self._dirty = True
                return _classify_reply(code, _reply_text(resp), stage)
            stage = "RCPT"
            code, resp = smtp.rcpt(recipient)
            if code not in (250, 251):
                self._dirty = True
                return _classify_reply(code, _reply_text(resp), stage)
            stage = "DATA"
            code, resp = smtp.data(data)
            if code != 250:
                self._dirty = True
                return _classify_reply(code, _reply_text(resp), stage)
            return SendResult(Outcome.delivered, code, _reply_text(resp)[:2000])
        except SmtpConfigError:
            raise
        except smtplib.SMTPDataError as e:  # smtplib raises this for a non-354 reply to DATA
            self._dirty = True
            return _classify_reply(e.smtp_code, _reply_text(e.smtp_error), stage)
        except smtplib.SMTPResponseException as e:  # e.g. 421 service closing, a refused EHLO
            self._drop()
            return _classify_reply(e.smtp_code, _reply_text(e.smtp_error), stage)
        except (smtplib.SMTPException, OSError) as e:  # disconnected, refused, reset, timed out, TLS failure
            self._drop()
            what = "timed out" if isinstance(e, TimeoutError) else f"{type(e).__name__}: {e}"
            return SendResult(Outcome.transient, None, f"{stage}: {what}"[:2000])


def open_session(settings: MailSettings) -> SmtpSession | OutboxSession:
    """The transport the settings choose: an SMTP session, or the local outbox when no SMTP server is
    configured (`MailSettings.outbox`, named for a database by `MailSettings.beside`)."""
    if settings.outbox is None:
        return SmtpSession(settings)
    from paperfeed.mail.outbox import OutboxSession
    from paperfeed.mail.settings import BESIDE_DB

    if settings.outbox == BESIDE_DB:
        raise ValueError("the outbox folder is not named yet: call MailSettings.beside(db_path) first")
    return OutboxSession(settings.outbox)


def _quietly_close(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        smtp.close()
