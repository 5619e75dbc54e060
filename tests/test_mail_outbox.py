"""Mail on a fresh install, with no SMTP server configured: messages go to the local outbox beside the
database (mail/outbox.py), the site shows it to its operator at /outbox (from this machine only), and
the whole double opt-in works through it: subscribe on the real site, open the email at /outbox,
follow its link, the subscription is active.  Digests keep the ledger's exactly-once bookkeeping."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from email.message import EmailMessage
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import make_site_pf
from delivery_trials import make_store
from test_mail_delivery import NOW, subscribe_backdated

from paperfeed.mail.model import message_id
from paperfeed.mail.outbox import list_messages, outbox_dir
from paperfeed.mail.settings import MailSettings
from paperfeed.mail.subscriptions import Subscriptions
from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_HREF = re.compile(r'href="(/outbox/[^"]+)"')
ROOMY = {k: (1000, 100.0) for k in ("signup", "login", "upvote", "submit", "subscribe", "preferences")}
NO_SMTP = {k: v for k, v in os.environ.items() if not k.startswith("PAPERFEED_SMTP_")}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pf = make_site_pf(tmp_path_factory.mktemp("outbox"))
    settings = WebSettings(secret="outbox-test", rate_limits=ROOMY, mail=MailSettings.from_env(NO_SMTP))
    app = create_app(pf, settings)
    with serve_in_thread(app) as url:
        yield url, pf, app
    pf.close()


def test_no_smtp_configured_means_the_outbox_beside_the_database():
    assert MailSettings.from_env({}).uses_outbox
    assert not MailSettings.from_env({"PAPERFEED_SMTP_HOST": "mail.example.org"}).uses_outbox
    assert not MailSettings.from_env({"PAPERFEED_SMTP_PORT": "2525"}).uses_outbox  # a server on 127.0.0.1:2525
    beside = MailSettings.from_env({}).beside("/srv/papers/site.db")
    assert beside.outbox == "/srv/papers/site.db.outbox"


def test_subscribe_with_no_smtp_server_then_confirm_from_the_outbox(site):
    url, pf, _app = site
    with httpx.Client(base_url=url, timeout=30) as c:
        token = _CSRF.search(c.get("/subscribe").text).group(1)
        r = c.post("/subscribe", data={"csrf_token": token, "email": "first.hour@example.org"})
        assert r.status_code == 200 and "Check your inbox" in r.text, r.text
        assert "try again" not in r.text.split("Nothing arrived")[0]
        assert 'href="/outbox"' in r.text  # the operator is told where the message went
        box = c.get("/outbox")
        assert box.status_code == 200
        assert "first.hour@example.org" in box.text and "Confirm your paperfeed digest subscription" in box.text
        page = c.get(_HREF.search(box.text).group(1))
        assert page.status_code == 200
        links = re.findall(r'<a href="(http[^"]+)">', page.text)
        confirm = [u for u in links if "/subscription/confirm" in u]
        assert len(confirm) == 1, page.text
        sub = Subscriptions(pf.store).by_email("first.hour@example.org")
        assert sub.status == "pending"
        parts = urlsplit(confirm[0].replace("&amp;", "&"))
        done = c.get(f"{parts.path}?{parts.query}")
    assert done.status_code == 200 and "confirmed" in done.text.lower()
    assert Subscriptions(pf.store).by_email("first.hour@example.org").status == "active"
    files = list_messages(outbox_dir(pf.db_path))
    assert [m.envelope_to for m in files].count("first.hour@example.org") == 1


def test_outbox_refuses_other_addresses_and_proxied_requests(site):
    url, _pf, app = site
    from starlette.testclient import TestClient

    from paperfeed.mail.outbox import OutboxSession

    msg = EmailMessage()
    msg["To"], msg["Subject"], msg["Message-ID"] = "someone@example.org", "a link", "<r@test>"
    msg.set_content("confirm: http://127.0.0.1:8000/subscription/confirm?t=secret\n")
    name = OutboxSession(outbox_dir(_pf.db_path)).send(msg, "someone@example.org").detail.rsplit(" ", 1)[1]
    for peer in ("203.0.113.7", "10.0.0.2", "::ffff:198.51.100.1"):
        with TestClient(app, base_url="http://127.0.0.1", client=(peer, 40000)) as remote:
            assert remote.get("/outbox").status_code == 403
            page = remote.get(f"/outbox/{name}")
            assert page.status_code == 403 and "secret" not in page.text
    with httpx.Client(base_url=url, timeout=30) as local:
        assert local.get("/outbox").status_code == 200
        assert "t=secret" in local.get(f"/outbox/{name}").text
        # a reverse proxy on this host connects from 127.0.0.1 for a remote visitor: not the operator
        assert local.get("/outbox", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 403
        assert local.get("/outbox", headers={"Forwarded": "for=203.0.113.7"}).status_code == 403
        assert local.get("/outbox/..%2Fsite.db").status_code == 404
        assert local.get("/outbox/not-a-message.eml").status_code == 404


def test_outbox_shows_hostile_text_escaped(site):
    from paperfeed.mail.outbox import OutboxSession

    url, pf, _app = site
    msg = EmailMessage()
    msg["To"], msg["Subject"], msg["Message-ID"] = "eve@example.org", "<script>alert(1)</script>", "<x@test>"
    msg.set_content('Hi <b>there</b> see https://example.org/a?b=1&c="2" and javascript:alert(1)\n')
    assert OutboxSession(outbox_dir(pf.db_path)).send(msg, "eve@example.org").delivered
    with httpx.Client(base_url=url, timeout=30) as c:
        box = c.get("/outbox").text
        assert "<script>alert(1)" not in box and "&lt;script&gt;" in box
        name = next(n for n in _HREF.findall(box) if n)
        page = c.get(name).text
    assert "<b>there</b>" not in page and "&lt;b&gt;there&lt;/b&gt;" in page
    assert '<a href="https://example.org/a?b=1&amp;c=">' in page  # the quote ends the URL
    assert 'href="javascript' not in page


def test_digest_run_with_no_smtp_server_writes_each_digest_once_to_the_outbox(tmp_path):
    db = tmp_path / "ob.db"
    store = make_store(db, papers=200)
    ids = subscribe_backdated(store, [f"o{i}@example.org" for i in range(5)], ["learning"] * 5)
    store.close()
    env = {**NO_SMTP, "PAPERFEED_DB": str(db), "PAPERFEED_MAIL_FROM": "digests@paperfeed.test"}
    cmd = [sys.executable, "-m", "paperfeed.cli.main", "digest", "run", "--now", NOW.isoformat()]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "sent 5" in first.stdout + first.stderr
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "sent 0" in again.stdout + again.stderr
    got = sorted(m.message_id for m in list_messages(outbox_dir(db)))
    assert got == sorted(message_id(i, "2025-09-30", "paperfeed.test") for i in ids)
