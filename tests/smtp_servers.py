"""Real SMTP servers for the delivery tests: aiosmtpd on 127.0.0.1, well-behaved or misbehaving on purpose.

`Sink` stores every message it accepts (with its Message-ID), so tests count copies.  `Faults` is a
handler whose behaviour per recipient / per attempt is programmable: a temporary 451 on DATA, a 550 on
RCPT, a connection dropped in the middle of DATA, replies slower than the client's timeout.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=default_policy)  # type: ignore[return-value]

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


@dataclass
class Sink:
    """Accepts everything; keeps what it accepted (thread-safe: the server runs in its own thread)."""

    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.keep(envelope)
        return "250 Message accepted for delivery"

    def keep(self, envelope: Envelope) -> None:
        data = envelope.original_content or envelope.content
        assert isinstance(data, bytes)
        with self.lock:
            self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), data))

    def message_ids(self) -> Counter[str]:
        with self.lock:
            return Counter(r.message_id for r in self.received)

    def clear(self) -> None:
        with self.lock:
            self.received.clear()


@dataclass
class Faults(Sink):
    """Misbehaves as told.  Keys are recipient addresses.

    data_451:   recipient -> how many DATA attempts answer 451 before one is accepted
    rcpt_550:   recipients refused for good at RCPT
    data_550:   recipients refused for good at the end of DATA
    drop_data:  recipient -> how many DATA attempts end with the connection closed (nothing stored)
    slow:       recipient -> seconds to wait before answering the end of DATA (message not stored)
    """

    data_451: dict[str, int] = field(default_factory=dict)
    rcpt_550: set[str] = field(default_factory=set)
    data_550: set[str] = field(default_factory=set)
    drop_data: dict[str, int] = field(default_factory=dict)
    slow: dict[str, float] = field(default_factory=dict)
    attempts: Counter[str] = field(default_factory=Counter)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.rcpt_550:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        rcpt = envelope.rcpt_tos[0]
        with self.lock:
            self.attempts[rcpt] += 1
            n = self.attempts[rcpt]
        if rcpt in self.slow:
            await asyncio.sleep(self.slow[rcpt])
            return "451 4.3.0 Too slow, try again"
        if n <= self.drop_data.get(rcpt, 0):
            assert server.transport is not None
            server.transport.abort()  # the connection drops before any reply to the message
            return "421 closing"  # never reaches the client
        if n <= self.data_451.get(rcpt, 0):
            return "451 4.3.0 Temporary local problem, try again later"
        if rcpt in self.data_550:
            return "550 5.7.1 Message refused"
        self.keep(envelope)
        return "250 Message accepted for delivery"


class _MidDataDropSMTP(SMTP):
    """Closes the connection while the client is still streaming the message body (mid-DATA)."""

    drop_for: dict[str, int] = {}

    async def smtp_DATA(self, arg: str) -> None:
        rcpt = self.envelope.rcpt_tos[0] if self.envelope.rcpt_tos else ""
        left = self.drop_for.get(rcpt, 0)
        if left > 0:
            self.drop_for[rcpt] = left - 1
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._reader.read(64)  # the first bytes of the body arrive, then we hang up
            assert self.transport is not None
            self.transport.abort()
            return
        await super().smtp_DATA(arg)


class MidDataDropController(Controller):
    def __init__(self, handler: Sink, drop_for: dict[str, int], **kw: object):
        super().__init__(handler, **kw)  # type: ignore[arg-type]
        self.drop_for = drop_for

    def factory(self) -> SMTP:
        smtp = _MidDataDropSMTP(self.handler, **self.SMTP_kwargs)
        smtp.drop_for = self.drop_for
        return smtp


@contextmanager
def smtp_server(handler: Sink, controller: type[Controller] = Controller, **kw: object) -> Iterator[Controller]:
    """A running server on 127.0.0.1 (a free port); stopped on exit."""
    c = controller(handler, hostname="127.0.0.1", port=free_port(), **kw)  # type: ignore[arg-type]
    c.start()
    try:
        yield c
    finally:
        c.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
