"""Digest delivery end to end against a real SMTP server (aiosmtpd on 127.0.0.1): what arrives, the ledger's
guarantees (plan before send, exclusive claims, reclaim with the same Message-ID and bytes), two concurrent
`paperfeed digest run` processes, the CLI's errors, and the server's schedule thread."""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
from datetime import datetime, timedelta
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

import pytest
from conftest import make_site_pf
from delivery_trials import add_subscribers, copy_db, digests_for, make_store
from itsdangerous import URLSafeTimedSerializer
from smtp_servers import Sink, free_port, smtp_server
from sqlalchemy import update
from store_backends import store_backend  # noqa: F401  (fixture: SQLite and PostgreSQL)

from paperfeed.mail.ledger import Ledger, backoff
from paperfeed.mail.links import Links
from paperfeed.mail.model import message_id
from paperfeed.mail.render import render_message
from paperfeed.mail.runner import DigestScheduler, interval_minutes, run_due, run_lock, send_owed, start_scheduler
from paperfeed.mail.settings import MailSettings
from paperfeed.mail.subscriptions import Follow, Prefs, Subscriptions
from paperfeed.store.papers import Store
from paperfeed.store.schema import digest_items, digests, subscribers
from paperfeed.store.secret import site_secret

DOMAIN = "paperfeed.test"
NOW = datetime(2025, 9, 30, 9, 0)  # a Tuesday: the daily digest of 2025-09-30 covers papers listed 2025-09-29
SEARCHES = ["learning", "language model", "graph", "robot", "diffusion", "reinforcement", "quantum", "vision"]


def settings_for(port: int) -> MailSettings:
    return MailSettings(port=port, timeout=5, sender=f"digests@{DOMAIN}", base_url="http://127.0.0.1:8000")


def subscribe_backdated(store: Store, emails: list[str], searches: list[str], prefs: Prefs | None = None) -> list:
    """Active subscribers with saved searches, confirmed before the corpus's dates (so digests are due)."""
    subs = Subscriptions(store)
    out = []
    for email, q in zip(emails, searches, strict=True):
        s, _ = subs.subscribe(email, prefs, follows_=[Follow("search", q)])
        subs.confirm(s.id)
        out.append(s.id)
    with store.write() as conn:
        conn.execute(update(subscribers).where(subscribers.c.id.in_(out))
                     .values(confirmed_at=datetime(2025, 9, 1), created_at=datetime(2025, 9, 1)))
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """300 real papers (288 listed 2025-09-29) with a keyword index; eight subscribers with a saved search
    each, one who follows a search matching nothing, and one of those asked for an empty notice."""
    d = tmp_path_factory.mktemp("delivery")
    pf = make_site_pf(d)
    subscribe_backdated(pf.store, [f"r{i}@example.org" for i in range(8)], SEARCHES)
    subscribe_backdated(pf.store, ["quiet@example.org"], ["zzzyxxq"])
    subscribe_backdated(pf.store, ["notice@example.org"], ["zzzyxxq"], Prefs(send_empty=True))
    pf.close()
    return d / "site.db"


@pytest.fixture
def pf(site, tmp_path):
    from paperfeed.core import Paperfeed

    copy_db(site, tmp_path / "site.db")
    (tmp_path / "site.db.indexes").symlink_to(Path(str(site) + ".indexes"))
    p = Paperfeed(tmp_path / "site.db")
    yield p
    p.close()


def test_digest_run_delivers_each_due_digest_once_with_headers_and_both_parts(pf):
    sink = Sink()
    signer = URLSafeTimedSerializer(site_secret(pf.store), salt="paperfeed.mail.unsubscribe")
    with smtp_server(sink) as c:
        report = run_due(pf, settings_for(c.port), NOW)
        assert (report.planned, report.empty, report.sent, report.failed) == (9, 1, 9, 0)
        again = run_due(pf, settings_for(c.port), NOW + timedelta(hours=1))  # same day: nothing new is due
        assert (again.planned, again.sent) == (0, 0)
    assert len(sink.received) == 9
    subs = Subscriptions(pf.store)
    for got in sink.received:
        msg = got.message
        sub = subs.by_email(str(msg["To"]))
        assert sub is not None and got.rcpt_tos == [sub.email] and got.mail_from == f"digests@{DOMAIN}"
        assert msg["From"] == f"digests@{DOMAIN}" and msg["Subject"] and msg["Date"]
        assert msg["Message-ID"] == message_id(sub.id, "2025-09-30", DOMAIN)
        unsubscribe = str(msg["List-Unsubscribe"]).strip()  # long: folded onto a continuation line
        assert unsubscribe.startswith("<http://127.0.0.1:8000/unsubscribe?t=") and unsubscribe.endswith(">")
        token = unsubscribe[1:-1].split("t=", 1)[1]  # signed as of the digest's date (2025): check the signature
        assert signer.loads(token) == sub.id
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg.get_content_type() == "multipart/alternative"
        text, html = msg.get_body(("plain",)), msg.get_body(("html",))
        assert text is not None and html is not None
        assert "/unsubscribe?t=" in text.get_content() and "/unsubscribe?t=" in html.get_content()
        if sub.email != "notice@example.org":  # the others' digests hold papers from their saved search
            with pf.store.read() as conn:
                n_items = len(conn.execute(digest_items.select().where(digest_items.c.subscriber_id == sub.id))
                              .all())
            assert n_items >= 1 and text.get_content().count("search") >= 1
    with pf.store.read() as conn:
        statuses = sorted(r.status for r in conn.execute(digests.select()))
        assert statuses == ["empty"] + ["sent"] * 9
        quiet = subs.by_email("quiet@example.org")
        assert quiet is not None
        assert conn.execute(digests.select().where(digests.c.subscriber_id == quiet.id)).one().status == "empty"


def test_planned_rows_and_picks_exist_before_anything_is_sent_and_planning_twice_adds_nothing(tmp_path, store_backend):  # noqa: F811
    store = make_store(tmp_path / "p.db", backend=store_backend)
    subs = add_subscribers(store, ["a@example.org", "b@example.org"])
    ds = digests_for(store, subs)
    ledger = Ledger(store)
    assert ledger.plan(ds, DOMAIN, NOW).planned == 2
    assert ledger.plan(ds, DOMAIN, NOW).existing == 2  # the unique (subscriber, period) makes it a no-op
    with store.read() as conn:
        rows = conn.execute(digests.select()).all()
        items = conn.execute(digest_items.select().order_by(digest_items.c.digest_id, digest_items.c.position)).all()
    assert [r.status for r in rows] == ["planned", "planned"] and all(r.attempts == 0 for r in rows)
    assert [(i.paper_pk, i.section, i.reason) for i in items] == \
        [(p.paper_pk, p.section, p.reason) for d in ds for p in d.picks]
    assert ledger.last_window_end([s.id for s in subs]) == {s.id: ds[0].period.window_end for s in subs}
    store.close()


def test_a_reloaded_digest_renders_the_same_bytes_as_the_message_that_was_sent(tmp_path, store_backend):  # noqa: F811
    store = make_store(tmp_path / "b.db", backend=store_backend)
    subs = add_subscribers(store, ["a@example.org"])
    [d] = digests_for(store, subs)
    ledger = Ledger(store)
    ledger.plan([d], DOMAIN, NOW)
    settings = settings_for(25)
    links = Links(site_secret(store), settings.base_url)
    mid = message_id(subs[0].id, d.period.key, DOMAIN)
    with store.read() as conn:
        did = conn.execute(digests.select()).one().id
    first = render_message(d, settings, links, message_id=mid, date=d.period.due_at).as_bytes(policy=SMTP_POLICY)
    again = render_message(ledger.load(did), settings, links, message_id=mid,
                           date=d.period.due_at).as_bytes(policy=SMTP_POLICY)
    assert first == again
    store.close()


def test_claims_are_exclusive_and_a_dead_senders_rows_are_reclaimed_as_resends(tmp_path, store_backend):  # noqa: F811
    store = make_store(tmp_path / "c.db", backend=store_backend)
    subs = add_subscribers(store, [f"c{i}@example.org" for i in range(6)])
    Ledger(store).plan(digests_for(store, subs), DOMAIN, NOW)
    host = socket.gethostname()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = Ledger(store, owner=f"{host}:{int(gone.stdout)}")  # a process that has exited
    alive = Ledger(store, owner=f"{host}:{os.getppid()}")  # a process that runs (pytest's parent)
    other_host = Ledger(store, owner="elsewhere:1")  # another host: only its lease can tell
    me = Ledger(store)
    a = [c.digest_id for c in alive.claim(2, NOW)]
    o = [c.digest_id for c in other_host.claim(1, NOW)]
    first = me.claim(1, NOW)
    assert len(first) == 1 and not first[0].resend and first[0].digest_id not in a + o  # a free row, not theirs
    b = [c.digest_id for c in dead.claim(2, NOW)]
    assert len(set(a) | set(b) | set(o) | {first[0].digest_id}) == 6
    with store.write() as conn:  # the other host's lease runs out
        conn.execute(update(digests).where(digests.c.id == o[0]).values(lease_until=datetime(2000, 1, 1)))
    mine = me.claim(10, NOW)
    # The live process keeps its rows; the dead one's and the expired lease's come back, as resends.
    assert sorted(c.digest_id for c in mine) == sorted(b + o) and all(c.resend for c in mine)
    assert all(c.attempts == 2 for c in mine)
    assert me.claim(10, NOW) == []  # nothing left: everything is held
    with store.read() as conn:
        held = {r.id: r.claimed_by for r in conn.execute(digests.select())}
    assert all(held[i] == alive.owner for i in a) and all(held[c.digest_id] == me.owner for c in mine)
    store.close()


def test_backoff_doubles_with_jitter_and_is_capped():
    for n in range(1, 12):
        d = backoff(n)
        full = min(timedelta(hours=6), timedelta(minutes=2) * 2 ** (n - 1))
        assert full / 2 <= d <= full


def test_two_digest_run_processes_at_once_deliver_every_digest_exactly_once(tmp_path, store_backend):  # noqa: F811
    """On PostgreSQL the two processes are two nodes: separate index directories, one database."""
    store = make_store(tmp_path / "two.db", papers=200, backend=store_backend)
    db = store.location.db if store.location else str(tmp_path / "two.db")
    n = 60
    ids = subscribe_backdated(store, [f"p{i}@example.org" for i in range(n)], ["learning"] * n)
    store.close()
    sink = Sink()
    with smtp_server(sink) as c:
        env = {**os.environ, "PAPERFEED_DB": db, "PAPERFEED_SMTP_PORT": str(c.port),
               "PAPERFEED_MAIL_FROM": f"digests@{DOMAIN}", "HF_HUB_OFFLINE": "1"}
        cmd = [sys.executable, "-m", "paperfeed.cli.main", "digest", "run", "--now", NOW.isoformat()]
        procs = [subprocess.Popen(cmd, env={**env, "PAPERFEED_INDEX_DIR": str(tmp_path / f"node{i}")},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
        outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    sent = [int(o.split("sent ")[1].split(",")[0]) for o, _e in outs]
    assert sum(sent) == n
    got = sink.message_ids()
    assert sorted(got) == sorted(message_id(i, "2025-09-30", DOMAIN) for i in ids)
    assert set(got.values()) == {1}
    print("sent by each process:", sent)


def test_cli_bad_smtp_settings_or_now_exit_1_with_one_line(tmp_path):
    env = {**os.environ, "PAPERFEED_DB": str(tmp_path / "x.db"), "PAPERFEED_SMTP_SECURITY": "tls13"}
    p = subprocess.run([sys.executable, "-m", "paperfeed.cli.main", "digest", "run"], env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 1 and p.stderr.count("\n") == 1 and "PAPERFEED_SMTP_SECURITY" in p.stderr
    assert "Traceback" not in p.stderr
    env["PAPERFEED_SMTP_SECURITY"] = "none"
    p = subprocess.run([sys.executable, "-m", "paperfeed.cli.main", "digest", "run", "--now", "tuesday"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and p.stderr.count("\n") == 1 and "--now" in p.stderr


def test_scheduler_runs_on_its_interval_and_one_process_at_a_time(pf):
    sink = Sink()
    with smtp_server(sink) as c:
        sched = DigestScheduler(pf, settings_for(c.port), minutes=0.001, clock=lambda: NOW)
        with open(Path(str(pf.db_path) + ".digest.lock"), "a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)  # another server is running the digests
            assert sched.run_once() is None
            fcntl.flock(held, fcntl.LOCK_UN)
        with run_lock(pf.db_path) as mine:
            assert mine
        sched.start()
        deadline = datetime.now() + timedelta(seconds=60)
        while sched.rounds < 2 and datetime.now() < deadline:
            sched.thread.join(0.05)
        sched.stop()
        assert sched.rounds >= 2 and not sched.thread.is_alive()
    assert len(sink.received) == 9 and set(sink.message_ids().values()) == {1}
    assert start_scheduler(pf, {"PAPERFEED_DIGEST_INTERVAL": "0"}) is None
    assert start_scheduler(pf, {"PAPERFEED_SMTP_SECURITY": "tls13"}) is None  # logged; the site still serves
    assert start_scheduler(pf, {"PAPERFEED_DIGEST_INTERVAL": "soon"}) is None
    with pytest.raises(ValueError, match="PAPERFEED_DIGEST_INTERVAL"):
        interval_minutes({"PAPERFEED_DIGEST_INTERVAL": "soon"})
    assert interval_minutes({}) == 5


def test_send_owed_with_parallel_connections_sends_each_once(tmp_path, store_backend):  # noqa: F811
    store = make_store(tmp_path / "par.db", backend=store_backend)
    subs = add_subscribers(store, [f"q{i}@example.org" for i in range(40)])
    Ledger(store).plan(digests_for(store, subs), DOMAIN, NOW)
    sink = Sink()
    with smtp_server(sink) as c:
        report = send_owed(store, settings_for(c.port), NOW, connections=4, batch=5)
    assert report.sent == 40 and set(sink.message_ids().values()) == {1} and len(sink.message_ids()) == 40
    store.close()


def test_no_smtp_server_is_reported_not_raised(pf):
    report = run_due(pf, settings_for(free_port()), NOW)
    assert report.planned == 9 and report.sent == 0 and report.errors


def test_the_links_in_a_delivered_digest_work_against_the_running_site(tmp_path):
    """A digest of 2026-07-01 (papers listed 2026-06-30) goes through SMTP; its preferences link opens the
    subscriber's page on the real site, and the List-Unsubscribe one-click POST unsubscribes: the next run
    sends nothing to that address."""
    import re
    import urllib.request

    from conftest import corpus_records, write_jsonl

    from paperfeed.core import Paperfeed
    from paperfeed.ingestion.pipeline import ingest_paths
    from paperfeed.web import create_app
    from paperfeed.web.testing import serve_in_thread

    src = write_jsonl(tmp_path / "late.jsonl", corpus_records(400, skip=74300))  # 128 listed 2026-06-30
    pf = Paperfeed(tmp_path / "late.db")
    ingest_paths(pf.store, [str(src)])
    [sid] = subscribe_backdated(pf.store, ["reader@example.org"], ["learning"])
    with pf.store.write() as conn:
        conn.execute(update(subscribers).where(subscribers.c.id == sid)
                     .values(confirmed_at=datetime(2026, 6, 1), created_at=datetime(2026, 6, 1)))
    now = datetime(2026, 7, 1, 9, 0)
    sink = Sink()
    with serve_in_thread(create_app(pf)) as base, smtp_server(sink) as c:
        settings = MailSettings(port=c.port, timeout=5, sender=f"digests@{DOMAIN}", base_url=base)
        assert run_due(pf, settings, now).sent == 1
        [got] = sink.received
        msg = got.message
        text = msg.get_body(("plain",)).get_content()
        manage = re.search(re.escape(base) + r"/subscription\?t=[\w.\-]+", text)
        assert manage is not None
        with urllib.request.urlopen(manage.group(0), timeout=10) as r:
            assert r.status == 200 and "reader@example.org" in r.read().decode()
        one_click = str(msg["List-Unsubscribe"]).strip()[1:-1]
        assert one_click.startswith(base + "/unsubscribe?t=")
        post = urllib.request.Request(one_click, data=str(msg["List-Unsubscribe-Post"]).encode(), method="POST",
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(post, timeout=10) as r:
            assert r.status == 200
        sub = Subscriptions(pf.store).get(sid)
        assert sub is not None and sub.status == "unsubscribed"
        later = run_due(pf, settings, now + timedelta(days=1))
        assert (later.planned, later.sent) == (0, 0) and len(sink.received) == 1
    pf.close()


def test_sending_spreads_over_processes_only_when_many_digests_are_owed(tmp_path, monkeypatch):
    from paperfeed.mail import runner

    store = make_store(tmp_path / "auto.db")
    subs = add_subscribers(store, [f"auto{i}@example.org" for i in range(6)])
    ledger = Ledger(store)
    ledger.plan(digests_for(store, subs), DOMAIN, NOW)
    monkeypatch.setattr(runner, "PARALLEL_FROM", 7)
    assert runner.auto_processes(ledger) == 1  # 6 owed: one process
    monkeypatch.setattr(runner, "PARALLEL_FROM", 6)
    monkeypatch.setattr("paperfeed.search.embedder.available_cpus", lambda: 2)
    assert runner.auto_processes(ledger) == 2  # enough owed: one per core
    monkeypatch.setattr("paperfeed.search.embedder.available_cpus", lambda: 1)
    assert runner.auto_processes(ledger) == 1  # one core: no point
    store.close()
