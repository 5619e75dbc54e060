"""Delivery under faults, against misbehaving SMTP servers written on aiosmtpd (tests/smtp_servers.py):
temporary 451s, a 550 for one recipient, a connection dropped mid-DATA, replies slower than the timeout,
no server at all; and the sending process SIGKILLed at random points (tests/delivery_trials.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from delivery_trials import NOW, add_subscribers, digests_for, make_store, prepare_ledger, run_trials
from smtp_servers import Faults, MidDataDropController, Sink, free_port, smtp_server

from paperfeed.mail.ledger import MAX_ATTEMPTS, Ledger
from paperfeed.mail.model import message_id
from paperfeed.mail.runner import send_owed
from paperfeed.mail.settings import MailSettings
from paperfeed.mail.subscriptions import Subscriptions
from paperfeed.store.papers import Store
from paperfeed.store.schema import digests

DOMAIN = "paperfeed.test"
EMAILS = ["ada@example.org", "bob@example.org", "cy@example.org", "dee@example.org"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """Real papers, four active subscribers, one planned digest each; copied per test."""
    d = tmp_path_factory.mktemp("faults")
    store = make_store(d / "base.db")
    subs = add_subscribers(store, EMAILS)
    assert Ledger(store).plan(digests_for(store, subs), DOMAIN, NOW).planned == 4
    store.close()
    return d / "base.db"


@pytest.fixture
def store(prepared, tmp_path):
    from delivery_trials import copy_db

    copy_db(prepared, tmp_path / "t.db")
    s = Store.open(tmp_path / "t.db")
    yield s
    s.close()


def settings_for(port: int, timeout: float = 5.0) -> MailSettings:
    return MailSettings(port=port, timeout=timeout, sender=f"digests@{DOMAIN}")


def rows(store: Store) -> dict[str, object]:
    with store.read() as conn:
        return {r.message_id: r for r in conn.execute(digests.select())}


def mid(store: Store, email: str) -> str:
    sub = Subscriptions(store).by_email(email)
    assert sub is not None
    return message_id(sub.id, "2025-09-30", DOMAIN)


def test_451_on_data_is_retried_later_with_backoff_and_delivered_once(store):
    handler = Faults(data_451={"bob@example.org": 2})
    with smtp_server(handler) as c:
        first = send_owed(store, settings_for(c.port), NOW)
        assert (first.sent, first.retried, first.failed) == (3, 1, 0)
        bob = rows(store)[mid(store, "bob@example.org")]
        assert bob.status == "retry" and bob.attempts == 1 and "451" in bob.last_error
        assert NOW + timedelta(minutes=1) <= bob.next_attempt_at <= NOW + timedelta(minutes=2)
        # Not due yet: a run right away leaves it alone (no tight retry loop).
        assert send_owed(store, settings_for(c.port), NOW + timedelta(seconds=30)).retried == 0
        second = send_owed(store, settings_for(c.port), NOW + timedelta(minutes=3))
        assert (second.sent, second.retried) == (0, 1)  # the 2nd 451; the next delay doubles
        bob = rows(store)[mid(store, "bob@example.org")]
        assert bob.next_attempt_at - (NOW + timedelta(minutes=3)) >= timedelta(minutes=2)
        third = send_owed(store, settings_for(c.port), NOW + timedelta(hours=1))
        assert third.sent == 1
    got = handler.message_ids()
    assert got[mid(store, "bob@example.org")] == 1 and sum(got.values()) == 4
    assert {r.status for r in rows(store).values()} == {"sent"}
    assert rows(store)[mid(store, "bob@example.org")].attempts == 3


def test_550_for_one_recipient_bounces_it_and_the_others_are_delivered(store):
    handler = Faults(rcpt_550={"bob@example.org"}, data_550={"dee@example.org"})
    with smtp_server(handler) as c:
        report = send_owed(store, settings_for(c.port), NOW)
        assert (report.sent, report.failed, report.retried) == (2, 2, 0)
        for email in ("bob@example.org", "dee@example.org"):
            r = rows(store)[mid(store, email)]
            assert r.status == "failed" and "550" in r.last_error
            sub = Subscriptions(store).by_email(email)
            assert sub is not None and sub.status == "bounced"
        # Nothing is tried again for them, now or later.
        assert send_owed(store, settings_for(c.port), NOW + timedelta(days=1)).sent == 0
    got = handler.message_ids()
    assert set(got) == {mid(store, "ada@example.org"), mid(store, "cy@example.org")}
    assert handler.attempts["dee@example.org"] == 1  # bob was refused at RCPT, before any DATA


def test_connection_dropped_mid_data_is_retried_and_the_rest_go_out_on_a_new_connection(store):
    handler = Sink()
    with smtp_server(handler, MidDataDropController, drop_for={"ada@example.org": 1}) as c:
        first = send_owed(store, settings_for(c.port), NOW)
        assert (first.sent, first.retried) == (3, 1)
        ada = rows(store)[mid(store, "ada@example.org")]
        assert ada.status == "retry" and "DATA" in ada.last_error
        assert send_owed(store, settings_for(c.port), NOW + timedelta(hours=1)).sent == 1
    got = handler.message_ids()
    assert got[mid(store, "ada@example.org")] == 1 and sum(got.values()) == 4


def test_a_server_slower_than_the_timeout_is_a_transient_failure(store):
    handler = Faults(slow={"cy@example.org": 3.0})
    with smtp_server(handler) as c:
        report = send_owed(store, settings_for(c.port, timeout=0.5), NOW)
        assert (report.sent, report.retried) == (3, 1)
        cy = rows(store)[mid(store, "cy@example.org")]
        assert cy.status == "retry" and "timed out" in cy.last_error
        handler.slow.clear()
        assert send_owed(store, settings_for(c.port), NOW + timedelta(hours=1)).sent == 1
    assert handler.message_ids()[mid(store, "cy@example.org")] == 1


def test_no_server_leaves_everything_owed_and_says_so(store):
    report = send_owed(store, settings_for(free_port()), NOW)
    assert report.sent == 0 and report.retried == 1 and report.errors
    assert "cannot reach SMTP server" in report.errors[0]
    statuses = sorted(r.status for r in rows(store).values())
    assert statuses == ["planned", "planned", "planned", "retry"]  # the rest released, not burnt
    handler = Sink()
    with smtp_server(handler) as c:
        assert send_owed(store, settings_for(c.port), NOW + timedelta(hours=1)).sent == 4
    assert sorted(handler.message_ids().values()) == [1, 1, 1, 1]


def test_transient_failures_give_up_after_max_attempts_without_bouncing(store):
    handler = Faults(data_451={"ada@example.org": 1000})
    when = NOW
    with smtp_server(handler) as c:
        for _ in range(MAX_ATTEMPTS):
            send_owed(store, settings_for(c.port), when)
            when += timedelta(hours=7)
    ada = rows(store)[mid(store, "ada@example.org")]
    assert ada.status == "failed" and ada.attempts == MAX_ATTEMPTS
    sub = Subscriptions(store).by_email("ada@example.org")
    assert sub is not None and sub.status == "active"  # a flaky server is not the address's fault


def test_unsubscribed_before_sending_is_not_sent(store):
    ada = Subscriptions(store).by_email("ada@example.org")
    assert ada is not None
    Subscriptions(store).unsubscribe(ada.id)
    handler = Sink()
    with smtp_server(handler) as c:
        assert send_owed(store, settings_for(c.port), NOW).sent == 3
    assert mid(store, "ada@example.org") not in handler.message_ids()
    assert rows(store)[mid(store, "ada@example.org")].status == "failed"


def test_kill_trials_lose_nothing_and_duplicate_only_in_the_250_to_commit_window(tmp_path):
    """100 trials: the sender SIGKILLed at a random instant (or, in a quarter of them, right after a 250 and
    before its commit), then a rerun.  Every due digest arrives; a second copy only ever comes from a
    message the server accepted while its ledger row still said `sending`."""
    prepared = prepare_ledger(tmp_path, 8, DOMAIN)
    sink = Sink()
    with smtp_server(sink) as c:
        tot = run_trials(prepared, tmp_path / "trial.db", settings_for(c.port), sink, trials=100, seed=4)
    print(tot.line())
    assert tot.trials == 100 and tot.killed > 50
    assert tot.lost == 0 and tot.not_sent_in_ledger == 0
    assert tot.other_duplicates == 0
    assert tot.targeted >= 10  # each kill right after a 250 gives exactly one second copy ...
    assert tot.window_duplicates - tot.random_window_duplicates == tot.targeted
    assert tot.duplicates == tot.window_duplicates <= tot.resent_reported  # ... and the report owns up to them
    assert tot.window_at_kill["planned"] == tot.window_at_kill["retry"] == 0  # nothing sent without a claim


def _only(login: bytes, password: bytes):  # type: ignore[no-untyped-def]
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def check(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (login, password)
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself

    return check


def test_a_login_the_server_refuses_stops_the_run_and_leaves_everything_owed(store):
    from paperfeed.mail.smtp import SmtpConfigError

    handler = Sink()
    with smtp_server(handler, authenticator=_only(b"digests", b"right"), auth_require_tls=False) as c:
        wrong = MailSettings(port=c.port, timeout=5, sender=f"digests@{DOMAIN}", user="digests", password="wrong")
        with pytest.raises(SmtpConfigError, match="refused the login"):
            send_owed(store, wrong, NOW)
        assert sorted((r.status, r.attempts) for r in rows(store).values()) == [("planned", 0)] * 4
        right = MailSettings(port=c.port, timeout=5, sender=f"digests@{DOMAIN}", user="digests", password="right")
        assert send_owed(store, right, NOW).sent == 4
    assert sorted(handler.message_ids().values()) == [1, 1, 1, 1]


def test_cli_exits_1_with_one_line_when_the_server_refuses_the_login(prepared, tmp_path):
    import os
    import subprocess
    import sys

    from delivery_trials import copy_db

    copy_db(prepared, tmp_path / "cli.db")
    with smtp_server(Sink(), authenticator=_only(b"digests", b"right"), auth_require_tls=False) as c:
        env = {**os.environ, "PAPERFEED_DB": str(tmp_path / "cli.db"), "PAPERFEED_SMTP_PORT": str(c.port),
               "PAPERFEED_SMTP_USER": "digests", "PAPERFEED_SMTP_PASSWORD": "wrong", "HF_HUB_OFFLINE": "1"}
        p = subprocess.run([sys.executable, "-m", "paperfeed.cli.main", "digest", "run", "--now", NOW.isoformat()],
                           env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and p.stderr.count("\n") == 1, p.stderr
    assert p.stderr.startswith("error: ") and "refused the login" in p.stderr and "Traceback" not in p.stderr


def test_a_digest_that_cannot_be_rendered_is_retried_later_and_blocks_no_one(store):
    from paperfeed.mail.render import render_message

    def fragile(digest, *args, **kw):  # type: ignore[no-untyped-def]
        if digest.subscriber.email == "cy@example.org":
            raise UnicodeError("a bad byte in a stored title")
        return render_message(digest, *args, **kw)

    handler = Sink()
    with smtp_server(handler) as c:
        report = send_owed(store, settings_for(c.port), NOW, render=fragile)
        assert (report.sent, report.retried) == (3, 1)
        cy = rows(store)[mid(store, "cy@example.org")]
        assert cy.status == "retry" and cy.last_error.startswith("render: UnicodeError")
        assert send_owed(store, settings_for(c.port), NOW + timedelta(hours=1)).sent == 1  # fixed: it goes out
    assert sorted(handler.message_ids().values()) == [1, 1, 1, 1]
