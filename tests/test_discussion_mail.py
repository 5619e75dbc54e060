"""Notification emails sent in the background (discussion/sender.py), on SQLite and PostgreSQL, with real
aiosmtpd servers: two senders racing send every email exactly once; a transient failure is retried until it
goes, a permanent one is not; hidden comments and the "no emails" setting stop what is still waiting; with no
SMTP server configured the emails land in the outbox with their one-click unsubscribe headers."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from account_helpers import verified_member
from smtp_servers import Faults, Sink, smtp_server
from store_backends import open_store, store_backend  # noqa: F401

from paperfeed.discussion.notify import notify_for
from paperfeed.discussion.sender import NotificationSender, send_pending
from paperfeed.mail.outbox import list_messages
from paperfeed.mail.settings import BESIDE_DB, MailSettings
from paperfeed.models import Paper
from paperfeed.store import discussion as sql
from paperfeed.store import notifications as notes

NOW_AGAIN = (timedelta(0),) * 3  # retries due at once, so a test drives the rounds itself


@pytest.fixture
def store(store_backend, tmp_path):  # noqa: F811
    s = open_store(store_backend, tmp_path)
    with s.paper_batch() as b:
        b.upsert([Paper(id="2501.00001", title="One")])
    yield s
    s.close()


def mentions(store, n: int, domain: str = "race.example") -> tuple[list, list[int]]:
    """`n` members, each mentioned in a comment of its own by one writer: `n` notifications with email owed."""
    writer = verified_member(store, f"writer@{domain}")
    pk = store.pk_of("2501.00001")
    members, comments = [], []
    for i in range(n):
        m = verified_member(store, f"m{i}@{domain}")
        c = sql.add_comment(store, pk, writer.id, f"hello @member{m.id}")
        assert notify_for(store, c, mail=True) == [m.id]
        members.append(m)
        comments.append(c.id)
    return members, comments


def test_two_racing_senders_send_each_email_once(store):
    sink = Sink()
    mentions(store, 30)
    with smtp_server(sink) as smtp:
        settings = MailSettings(port=smtp.port)
        a = NotificationSender(store, settings, "s", interval=0.05, name="-a")
        b = NotificationSender(store, settings, "s", interval=0.05, name="-b")
        with a, b:
            deadline = time.monotonic() + 60
            while notes.email_counts(store).get("sent", 0) < 30 and time.monotonic() < deadline:
                time.sleep(0.05)
    assert notes.email_counts(store) == {"sent": 30}
    ids = sink.message_ids()
    assert len(ids) == 30 and set(ids.values()) == {1}  # thirty messages, no copy
    assert a.total.sent + b.total.sent == 30
    assert send_pending(store, settings, "s").sent == 0  # nothing owed any more


def test_transient_failures_are_retried_permanent_ones_are_not(store):
    faults = Faults(data_451={"m0@retry.example": 2}, rcpt_550={"m1@retry.example"})
    mentions(store, 2, "retry.example")
    with smtp_server(faults) as smtp:
        settings = MailSettings(port=smtp.port)
        first = send_pending(store, settings, "s", retry_after=NOW_AGAIN)
        assert (first.sent, first.retried, first.failed) == (0, 1, 1)
        later = send_pending(store, settings, "s", retry_after=(timedelta(hours=1),) * 3)
        assert later.retried == 1 and notes.pending_ids(store) == []  # not due again for an hour
        assert send_pending(store, settings, "s").sent == 0
        due = notes.pending_ids(store, now=notes.utcnow() + timedelta(hours=2))
        assert len(due) == 1
    assert notes.email_counts(store) == {"pending": 1, "failed": 1}
    assert [r.rcpt_tos for r in faults.received] == []  # both 451s stored nothing
    with smtp_server(faults) as smtp:  # the server is back (the third DATA is accepted)
        r = send_pending(store, MailSettings(port=smtp.port), "s", now=notes.utcnow() + timedelta(hours=2))
    assert r.sent == 1 and [x.rcpt_tos for x in faults.received] == [["m0@retry.example"]]


def test_out_of_attempts_is_failed(store):
    faults = Faults(data_451={"m0@tries.example": 99})
    mentions(store, 1, "tries.example")
    with smtp_server(faults) as smtp:
        settings = MailSettings(port=smtp.port)
        for _ in range(4):
            send_pending(store, settings, "s", retry_after=NOW_AGAIN)
    assert notes.email_counts(store) == {"failed": 1} and faults.attempts["m0@tries.example"] == 4


def test_hidden_comment_or_emails_off_sends_nothing(store):
    sink = Sink()
    (m0, m1), (c0, _) = mentions(store, 2, "stop.example")
    moderator = verified_member(store, "mod@stop.example")
    sql.moderate(store, moderator.id, "hide", c0, "spam")
    notes.set_email(store, m1.id, False)
    with smtp_server(sink) as smtp:
        r = send_pending(store, MailSettings(port=smtp.port), "s")
    assert (r.sent, r.skipped) == (0, 1) and sink.received == []
    assert notes.email_counts(store) == {"off": 2}
    assert notes.unread_count(store, m0.id) == 1  # still listed on the site


def test_no_smtp_server_means_the_outbox(store, tmp_path):
    mentions(store, 1, "outbox.example")
    folder = tmp_path / "outbox"
    r = send_pending(store, MailSettings(outbox=str(folder), base_url="http://site.example"), "s")
    assert r.sent == 1
    [msg] = list_messages(folder)
    raw = (folder / msg.name).read_text("utf-8")
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw
    assert "http://site.example/notifications/unsubscribe?t=" in raw
    assert MailSettings(outbox=BESIDE_DB).beside(store.location or store.path).outbox is not None
