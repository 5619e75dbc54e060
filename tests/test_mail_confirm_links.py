"""Confirmation links are bound to the subscription state they were issued for (issue 8), and every place
that takes an address checks it with email-validator; over real HTTP, real SMTP and the real CLI."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlparse

import httpx
import pytest
from account_helpers import csrf, mails_to, path_of_link
from conftest import make_site_pf, run_cli
from smtp_servers import Sink, smtp_server

from paperfeed.mail.links import Links
from paperfeed.mail.settings import MailSettings
from paperfeed.mail.subscriptions import Subscriptions
from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread

SECRET = "confirm-links-secret"


@pytest.fixture(scope="module")
def pf(tmp_path_factory):
    pf = make_site_pf(tmp_path_factory.mktemp("confirmlinks"))
    yield pf
    pf.close()


@pytest.fixture(scope="module")
def site(pf):
    sink = Sink()
    with smtp_server(sink) as smtp:
        mail = MailSettings(port=smtp.port, sender="digest@paperfeed.test")
        settings = WebSettings(secret=SECRET, rate_limits={}, mail=mail, arxiv_api_url=None)
        with serve_in_thread(create_app(pf, settings)) as url:
            settings.mail = replace(mail, base_url=url)
            yield url, sink


def _subscribe(c: httpx.Client, email: str) -> httpx.Response:
    return c.post("/subscribe", data={"email": email, "csrf_token": csrf(c, "/subscribe")})


def test_an_old_confirmation_link_cannot_undo_an_unsubscribe(site, pf):
    base, sink = site
    subs = Subscriptions(pf.store)
    with httpx.Client(base_url=base, timeout=30) as owner, httpx.Client(base_url=base, timeout=30) as anyone:
        assert _subscribe(owner, "owner@example.org").status_code == 200
        old = path_of_link(mails_to(sink, "owner@example.org")[-1], "/subscription/confirm")
        assert owner.get(old).status_code == 200 and subs.by_email("owner@example.org").status == "active"
        sid = subs.by_email("owner@example.org").id
        unsub = urlparse(Links(SECRET, base).unsubscribe_url(sid))
        assert owner.post(f"{unsub.path}?{unsub.query}").status_code == 200
        assert subs.get(sid).status == "unsubscribed"
        # anyone can re-subscribe the address (the owner is mailed a new link); the old link is now void
        assert _subscribe(anyone, "owner@example.org").status_code == 200
        assert subs.get(sid).status == "pending"
        replay = anyone.get(old)
        assert replay.status_code == 400 and "newer confirmation link" in replay.text
        assert subs.get(sid).status == "pending"
        new = path_of_link(mails_to(sink, "owner@example.org")[-1], "/subscription/confirm")
        assert new != old and owner.get(new).status_code == 200 and subs.get(sid).status == "active"


def test_links_made_before_versions_still_confirm_a_never_unsubscribed_address(site, pf):
    base, _sink = site
    subs = Subscriptions(pf.store)
    sub, _ = subs.subscribe("legacy@example.org")
    legacy = Links(SECRET, base)._serializer("confirm").dumps(sub.id)  # a bare id, as 0003 signed them
    with httpx.Client(base_url=base, timeout=30) as c:
        assert c.get("/subscription/confirm", params={"t": legacy}).status_code == 200
    assert subs.get(sub.id).status == "active"


@pytest.mark.parametrize("bad", ["a@b.c\x01", "ada@example..org", "x@[127.0.0.1]", "ada@-example.org"])
def test_the_cli_refuses_bad_addresses(tmp_path, bad):
    r = run_cli("digest", "subscribe", bad, "--no-send", db=tmp_path / "cli.db")
    assert r.returncode == 1 and "not a valid email address" in r.stderr and "Traceback" not in r.stderr
