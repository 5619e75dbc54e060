"""The local outbox: where mail goes when no SMTP server is configured (PAPERFEED_SMTP_HOST unset).

A fresh install has no mail server, and a site that cannot send the confirmation email cannot take a
subscription, so the first hour could not try the digest at all.  Instead every message is written as
one `.eml` file (the exact bytes an SMTP server would have received, RFC 5322, CRLF line ends) into
`<database>.outbox/`, beside the database and its indexes, and the site shows the folder to its
operator at `/outbox` (from this machine only: web/outbox.py).  Any mail client opens the files too.

`OutboxSession` is a drop-in for `smtp.SmtpSession` (`open`, `send`, `close`, context manager), so the
delivery ledger works unchanged: `send` returns `delivered` only once the file is complete on disk (written
to a temporary name, fsynced, renamed into place, directory fsynced): the outbox's "250".  The crash window
is the same as with SMTP: after the rename and before the ledger commits `sent`, a process that dies
leaves a digest that the next run resends with the same bytes and the same Message-ID (a second file).
A failure to write (disk full, permissions) is `transient`, like a server that cannot be reached.

Names sort by time: `20260602T090000.123456Z-<12 hex of the Message-ID>.eml`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

from paperfeed.mail.smtp import Outcome, SendResult

NAME = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{12}(-\d+)?\.eml$")
_lock = threading.Lock()  # one writer at a time within a process: names stay unique (processes: O_EXCL)


def outbox_dir(db_path: Path) -> Path:
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".outbox")


class OutboxSession:
    """Delivers to a folder instead of an SMTP server; same interface and outcomes as `SmtpSession`."""

    def __init__(self, directory: Path | str):
        self.directory = Path(directory)
        self.connections_opened = 0

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.connections_opened += 1

    def close(self) -> None:
        pass

    def __enter__(self) -> OutboxSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, msg: EmailMessage, recipient: str) -> SendResult:
        try:
            if not self.connections_opened:
                self.open()
            path = self._write(msg, recipient)
        except OSError as e:
            return SendResult(Outcome.transient, None, f"OUTBOX: cannot write to {self.directory}: {e}"[:2000])
        return SendResult(Outcome.delivered, 250, f"saved to the outbox as {path.name}")

    def _write(self, msg: EmailMessage, recipient: str) -> Path:
        if "X-Paperfeed-Envelope-To" in msg:
            del msg["X-Paperfeed-Envelope-To"]
        data = f"X-Paperfeed-Envelope-To: {recipient}\r\n".encode() + msg.as_bytes(policy=SMTP_POLICY)
        mid = hashlib.sha256(str(msg.get("Message-ID", "")).encode()).hexdigest()[:12]
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        with _lock:
            for n in range(1000):
                path = self.directory / (f"{stamp}-{mid}" + (f"-{n}" if n else "") + ".eml")
                tmp = self.directory / f".{path.name}.{os.getpid()}.tmp"
                try:
                    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)  # claim the name
                except FileExistsError:
                    continue
                os.close(fd)
                break
            else:  # pragma: no cover - a thousand messages with one Message-ID in one microsecond
                raise OSError("no free file name in the outbox")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)  # the empty placeholder becomes the whole message, never a part of it
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        dfd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        return path


# -- reading it back (the /outbox pages) --------------------------------------------------------------


@dataclass(frozen=True)
class OutboxMessage:
    name: str
    envelope_to: str
    to: str
    subject: str
    date: str
    message_id: str
    text: str  # the text/plain body (what /outbox/{name} shows)


def _read(path: Path) -> OutboxMessage:
    msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    body = msg.get_body(preferencelist=("plain",)) if isinstance(msg, EmailMessage) else None
    text = body.get_content() if body is not None else ""
    return OutboxMessage(path.name, str(msg.get("X-Paperfeed-Envelope-To", "")), str(msg.get("To", "")),
                         str(msg.get("Subject", "")), str(msg.get("Date", "")), str(msg.get("Message-ID", "")),
                         text)


def list_messages(directory: Path, limit: int = 200) -> list[OutboxMessage]:
    """The newest `limit` messages, newest first (an empty placeholder still being written is skipped)."""
    if not directory.is_dir():
        return []
    names = sorted((p for p in directory.iterdir() if NAME.match(p.name)), key=lambda p: p.name, reverse=True)
    out = []
    for p in names[:limit]:
        with contextlib.suppress(OSError):
            if p.stat().st_size:
                out.append(_read(p))
    return out


def count_messages(directory: Path) -> int:
    return sum(1 for p in directory.iterdir() if NAME.match(p.name)) if directory.is_dir() else 0


def read_message(directory: Path, name: str) -> OutboxMessage | None:
    """One message by file name; None for a name that is not an outbox file (no paths, no `..`)."""
    if not NAME.match(name):
        return None
    path = directory / name
    try:
        return _read(path) if path.stat().st_size else None
    except OSError:
        return None
