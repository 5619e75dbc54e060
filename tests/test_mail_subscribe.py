"""Digest subscriptions over real HTTP and a real SMTP server (aiosmtpd on 127.0.0.1): subscribe with the
form, receive the confirmation email, follow its link; preferences; one-click unsubscribe (RFC 8058);
invalid links; no subscriber enumeration; rate limits; hostile input escaped."""

from __future__ import annotations

import html
import re
import time
from dataclasses import replace
from email.message import EmailMessage

import httpx
import pytest
from conftest import make_site_pf, run_cli
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from smtp_servers import Faults, Sink, free_port, smtp_server

from paperfeed.mail.links import Links
from paperfeed.mail.settings import MailSettings
from paperfeed.mail.subscriptions import Prefs, Subscriptions
from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread

SECRET = "subscribe-test-secret"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_URL = re.compile(r"https?://\S+")
ROOMY = {k: (1000, 100.0) for k in ("signup", "login", "upvote", "submit", "subscribe", "preferences")}


@pytest.fixture(scope="module")
def pf(tmp_path_factory):
    pf = make_site_pf(tmp_path_factory.mktemp("subscribe"))
    yield pf
    pf.close()


@pytest.fixture(scope="module")
def sink():
    handler = Sink()
    with smtp_server(handler) as controller:
        yield handler, controller.port


@pytest.fixture(scope="module")
def site(pf, sink):
    """(base URL, settings): the site mails through the sink and writes links to itself."""
    mail = MailSettings(port=sink[1], sender="digest@paperfeed.test")
    settings = WebSettings(secret=SECRET, rate_limits=ROOMY, mail=mail)
    with serve_in_thread(create_app(pf, settings)) as url:
        settings.mail = replace(settings.mail, base_url=url)  # the port is known only now
        yield url, settings


@pytest.fixture()
def base(site) -> str:
    return site[0]


@pytest.fixture()
def subs(pf) -> Subscriptions:
    return Subscriptions(pf.store)


@pytest.fixture()
def links(base) -> Links:
    return Links(SECRET, base)


def client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, follow_redirects=False, timeout=30)


def csrf(c: httpx.Client, path: str) -> str:
    r = c.get(path)
    assert r.status_code == 200, r.text
    return _CSRF.search(r.text).group(1)


def mail_to(sink, address: str, wait: float = 5.0) -> list[EmailMessage]:
    """Messages the SMTP server accepted for `address` (the send is synchronous, so they are there)."""
    deadline = time.monotonic() + wait
    while True:
        found = [r.message for r in list(sink[0].received) if address in r.rcpt_tos]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def link_in(msg: EmailMessage, path: str) -> str:
    """The one link to `path` in the text part, checked to appear in the HTML part too."""
    text = msg.get_body(("plain",)).get_content()
    page = msg.get_body(("html",)).get_content()
    urls = [u for u in _URL.findall(text) if path in u]
    assert len(set(urls)) == 1, text
    assert html.escape(urls[0]) in page
    return urls[0]


def subscribe(c: httpx.Client, email: str, **fields: str) -> httpx.Response:
    token = csrf(c, "/subscribe")
    return c.post("/subscribe", data={"csrf_token": token, "email": email, **fields})


def active(subs: Subscriptions, email: str) -> int:
    sub, _ = subs.subscribe(email)
    return subs.confirm(sub.id).id


# -- the whole double opt-in -----------------------------------------------------------------------

def test_subscribe_confirm_by_emailed_link(base, sink, subs):
    with client(base) as c:
        r = subscribe(c, "New.Reader@Example.org", search='"gaussian splatting" -survey', author="Ada Lovelace",
                      category="cs.CV", frequency="weekly")
    assert r.status_code == 200 and "Check your inbox" in r.text
    sub = subs.by_email("new.reader@example.org")
    assert sub.status == "pending" and sub.prefs.frequency == "weekly"
    assert {(f.kind, f.value) for f in subs.follows_of([sub.id])[sub.id]} == {
        ("search", '"gaussian splatting" -survey'), ("author", "Ada Lovelace"), ("category", "cs.CV")}

    [msg] = mail_to(sink, "new.reader@example.org")
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["From"] == "digest@paperfeed.test" and msg["To"] == "new.reader@example.org"
    assert "Confirm" in msg["Subject"]
    url = link_in(msg, "/subscription/confirm?t=")
    assert url.startswith(base)

    with httpx.Client(timeout=30) as fresh:  # the link works with no cookie: the token is the credential
        page = fresh.get(url)
        assert page.status_code == 200 and "Subscription confirmed" in page.text
        assert subs.get(sub.id).status == "active"
        again = fresh.get(url)  # idempotent
        assert again.status_code == 200 and subs.get(sub.id).status == "active"
        manage = re.search(r'href="(/subscription\?t=[^"]+)"', page.text).group(1)
        prefs = fresh.get(base + html.unescape(manage))
        assert prefs.status_code == 200 and "new.reader@example.org" in prefs.text


def test_same_answer_for_new_pending_and_active_addresses(base, sink, subs):
    """No enumeration: the page is the same; the owner of a known address gets its preferences link instead."""
    known = "known@example.org"
    active(subs, known)

    def page(email: str) -> tuple[int, str]:
        with client(base) as c:
            r = subscribe(c, email)
        return r.status_code, r.text.replace(email, "EMAIL")

    assert page(known) == page("unknown-one@example.org") == page("unknown-one@example.org")
    [reminder] = mail_to(sink, known)
    assert link_in(reminder, "/subscription?t=") and "/subscription/confirm" not in reminder.as_string()
    confirmations = mail_to(sink, "unknown-one@example.org")
    assert len(confirmations) == 2  # a pending address asking again gets a new confirmation link
    assert all(link_in(m, "/subscription/confirm?t=") for m in confirmations)
    assert subs.get(subs.by_email(known).id).status == "active"


def test_smtp_down_is_said_and_a_retry_works(site, sink, subs):
    base, settings = site
    working = settings.mail
    settings.mail = replace(working, port=free_port())  # nothing listens there
    try:
        with client(base) as c:
            r = subscribe(c, "retry@example.org", search="diffusion")
        assert r.status_code == 503 and "could not send" in r.text
        assert 'value="retry@example.org"' in r.text and 'value="diffusion"' in r.text  # the form is kept
    finally:
        settings.mail = working
    assert subs.by_email("retry@example.org").status == "pending"
    assert mail_to(sink, "retry@example.org", wait=0) == []
    with client(base) as c:
        assert subscribe(c, "retry@example.org").status_code == 200
    [msg] = mail_to(sink, "retry@example.org")
    assert httpx.get(link_in(msg, "/subscription/confirm")).status_code == 200
    assert subs.by_email("retry@example.org").status == "active"


def test_smtp_refusals_are_explained(site, subs):
    base, settings = site
    working = settings.mail
    faults = Faults(rcpt_550={"nobody@example.org"}, data_451={"busy@example.org": 1})
    with smtp_server(faults) as server:
        settings.mail = replace(working, port=server.port)
        try:
            with client(base) as c:
                r = subscribe(c, "nobody@example.org")
                assert r.status_code == 400 and "refused to deliver to this address" in r.text
                r = subscribe(c, "busy@example.org")  # 451: temporary, so "try again" ...
                assert r.status_code == 503 and "could not send" in r.text
                assert subscribe(c, "busy@example.org").status_code == 200  # ... and it does work
        finally:
            settings.mail = working
    assert [r.rcpt_tos for r in faults.received] == [["busy@example.org"]]
    assert subs.by_email("busy@example.org").status == "pending"


def test_subscribe_form_errors_keep_input(base, subs):
    with client(base) as c:
        r = subscribe(c, "not-an-address", search="keep me")
        assert r.status_code == 400 and "not a valid email address" in r.text and 'value="keep me"' in r.text
        r = subscribe(c, "badquery@example.org", search='"unclosed')
        assert r.status_code == 400 and "unbalanced quote" in r.text and 'value="badquery@example.org"' in r.text
        r = c.post("/subscribe", data={"email": "nocsrf@example.org"})
        assert r.status_code == 403
    assert subs.by_email("badquery@example.org") is None and subs.by_email("nocsrf@example.org") is None


def test_logged_in_email_prefilled_and_linked(base, subs, pf):
    from account_helpers import verified_member

    from paperfeed.store.accounts import AccountStore as Community

    verified_member(pf.store, "member@example.org")
    with client(base) as c:
        r = c.post("/login", data={"csrf_token": csrf(c, "/login"), "email": "member@example.org",
                                   "password": "correct horse battery"})
        assert r.status_code == 303
        form = c.get("/subscribe").text
        assert 'value="member@example.org"' in form
        assert subscribe(c, "member@example.org").status_code == 200
    user = Community(pf.store).user_by_email("member@example.org")
    assert subs.by_email("member@example.org").user_id == user.id


# -- preferences -----------------------------------------------------------------------------------

def prefs_post(c: httpx.Client, url: str, **fields) -> httpx.Response:
    data = {"csrf_token": csrf(c, url), "action": "prefs", **fields}
    return c.post(url, data=data)


def test_preferences_change_persists(base, subs, links):
    sid = active(subs, "prefs@example.org")
    url = links.manage_url(sid)
    with client(base) as c:  # anonymous: the session cookie set by the page carries the CSRF token
        r = prefs_post(c, url, frequency="weekly", weekly_day="3", delivery_hour="18", timezone="Europe/Berlin",
                       sections=["trending", "similar"], send_empty="1")
        assert r.status_code == 303
        page = c.get(r.headers["location"])
        assert "Saved." in page.text and '<option selected>Europe/Berlin</option>' in page.text
    assert subs.get(sid).prefs == Prefs("weekly", 3, 18, "Europe/Berlin", ("trending", "similar"), True)


def test_bad_time_zone_and_bad_query_lose_nothing(base, subs, links):
    sid = active(subs, "careful@example.org")
    subs.add_follow(sid, "search", "diffusion")
    before = subs.get(sid)
    url = links.manage_url(sid)
    with client(base) as c:
        r = prefs_post(c, url, frequency="weekly", weekly_day="4", delivery_hour="9", timezone="Mars/Olympus_Mons",
                       sections=["trending"])
        assert r.status_code == 400 and "unknown time zone" in r.text
        assert '<option value="4" selected>Friday</option>' in r.text  # what was typed is shown again
        assert '<option value="9" selected>09:00</option>' in r.text
        r = prefs_post(c, url, frequency="daily", weekly_day="0", delivery_hour="7", timezone="UTC", sections=[])
        assert r.status_code == 400 and "at least one section" in r.text
        r = c.post(url, data={"csrf_token": csrf(c, url), "action": "follow", "kind": "search",
                              "value": 'transformers "unclosed'})
        assert r.status_code == 400 and "unbalanced quote" in r.text
        assert 'value="transformers &#34;unclosed"' in r.text
        r = c.post(url, data={"action": "prefs", "timezone": "Asia/Tokyo", "sections": ["trending"]})
        assert r.status_code == 403  # no CSRF token
    assert subs.get(sid).prefs == before.prefs
    assert [f.value for f in subs.follows_of([sid])[sid]] == ["diffusion"]


def test_follow_add_remove_and_hostile_text_escaped(base, subs, links):
    sid = active(subs, "follower@example.org")
    url = links.manage_url(sid)
    hostile = "<script>alert(1)</script> attention"
    with client(base) as c:
        for kind, value in (("search", hostile), ("author", "Eve <img src=x onerror=alert(1)>")):
            r = c.post(url, data={"csrf_token": csrf(c, url), "action": "follow", "kind": kind, "value": value})
            assert r.status_code == 303
        page = c.get(url).text
        assert "<script>alert(1)</script>" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt; attention" in page
        r = c.post(url, data={"csrf_token": csrf(c, url), "action": "unfollow", "kind": "search", "value": hostile})
        assert r.status_code == 303
    assert [(f.kind, f.value) for f in subs.follows_of([sid])[sid]] == [("author", "Eve <img src=x onerror=alert(1)>")]


# -- unsubscribe -----------------------------------------------------------------------------------

def test_one_click_unsubscribe_without_cookies(base, subs, links):
    sid = active(subs, "oneclick@example.org")
    url = links.unsubscribe_url(sid)
    r = httpx.post(url, data={"List-Unsubscribe": "One-Click"}, timeout=30)  # as a mail provider does
    assert r.status_code == 200 and "unsubscribed" in r.text
    assert subs.get(sid).status == "unsubscribed"
    assert httpx.post(url, data={"List-Unsubscribe": "One-Click"}).status_code == 200  # again: still fine
    # An old confirmation link does not undo it.
    assert httpx.get(links.confirm_url(sid)).status_code == 200 and subs.get(sid).status == "unsubscribed"


def test_unsubscribe_page_asks_first(base, subs, links):
    sid = active(subs, "asks@example.org")
    with client(base) as c:
        page = c.get(links.unsubscribe_url(sid))
        assert page.status_code == 200 and subs.get(sid).status == "active"  # a GET (a link scanner) changes nothing
        action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page.text).group(1))
        assert c.post(action).status_code == 200
    assert subs.get(sid).status == "unsubscribed"


def _expired(purpose: str, sid: int) -> str:
    class Old(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 400 * 24 * 3600

    return URLSafeTimedSerializer(SECRET, salt=f"paperfeed.mail.{purpose}", signer=Old).dumps(sid)


def test_bad_links_change_nothing_and_say_so(base, subs, links):
    pending = subs.subscribe("pending-victim@example.org")[0].id
    victim = active(subs, "victim@example.org")
    good = links.token("unsubscribe", victim)
    bad_tokens = {
        "forged": Links("another-secret").token("unsubscribe", victim),
        "tampered": good[:-3] + ("AAA" if good[-3:] != "AAA" else "BBB"),
        "wrong purpose": links.token("manage", victim),
        "expired": _expired("unsubscribe", victim),
        "missing": "",
    }
    with httpx.Client(base_url=base, timeout=30) as c:
        for name, t in bad_tokens.items():
            for r in (c.get("/unsubscribe", params={"t": t}),
                      c.post("/unsubscribe", params={"t": t}, data={"List-Unsubscribe": "One-Click"})):
                assert r.status_code == 400, name
                assert "This link is not valid or has expired" in r.text and "Nothing was changed" in r.text, name
        for t in (links.token("manage", pending), _expired("confirm", pending), Links("x").token("confirm", pending)):
            r = c.get("/subscription/confirm", params={"t": t})
            assert r.status_code == 400 and "not valid" in r.text
        for t in (links.token("unsubscribe", victim), links.token("confirm", victim)):
            r = c.post("/subscription", params={"t": t}, data={"action": "prefs", "timezone": "Asia/Tokyo"})
            assert r.status_code == 400
        assert c.get("/subscription", params={"t": links.token("manage", 10**9)}).status_code == 400  # no such id
    assert subs.get(victim).status == "active" and subs.get(victim).prefs.timezone == "UTC"
    assert subs.get(pending).status == "pending"


# -- the site around it ----------------------------------------------------------------------------

def test_every_page_links_to_subscribe(base):
    for path in ("/papers", "/papers/trending", "/login", "/subscribe"):
        r = httpx.get(base + path)
        assert "Get trending papers in your email inbox!" in r.text and '<a href="/subscribe">Subscribe</a>' in r.text


def test_subscribe_is_rate_limited(pf, sink):
    settings = WebSettings(secret=SECRET, rate_limits={"subscribe": (3, 1 / 3600)},
                           mail=MailSettings(port=sink[1]))
    with serve_in_thread(create_app(pf, settings)) as url, client(url) as c:
        codes = [subscribe(c, f"flood{i}@example.org").status_code for i in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert subs_count(pf, "flood") == 3 and len([r for r in sink[0].received if "flood" in r.rcpt_tos[0]]) == 3


def subs_count(pf, prefix: str) -> int:
    from sqlalchemy import func, select

    from paperfeed.store.schema import subscribers

    with pf.store.read() as conn:
        return conn.execute(select(func.count()).where(subscribers.c.email.like(f"{prefix}%"))).scalar()


# -- paperfeed digest subscribe ----------------------------------------------------------------------

@pytest.fixture()
def cli_env(monkeypatch, sink):
    monkeypatch.delenv("PAPERFEED_SECRET", raising=False)  # the CLI and the site both use the store's secret
    monkeypatch.setenv("PAPERFEED_SMTP_PORT", str(sink[1]))
    monkeypatch.setenv("PAPERFEED_SMTP_HOST", "127.0.0.1")


def test_cli_subscribe_mails_a_link_that_works(pf, sink, subs, cli_env, monkeypatch):
    with serve_in_thread(create_app(pf, WebSettings(mail=None))) as url:
        monkeypatch.setenv("PAPERFEED_BASE_URL", url)
        p = run_cli("digest", "subscribe", "Cli@Example.org", "--search", "diffusion cat:cs.CV", "--search",
                    '"large language models"', "--author", "Ada Lovelace", "--frequency", "weekly", "--day", "thu",
                    "--hour", "6", "--timezone", "America/New_York", db=pf.db_path, check=True)
        assert "added subscriber" in p.stdout and ": pending" in p.stdout and "confirmation email sent" in p.stdout
        sub = subs.by_email("cli@example.org")
        assert sub.prefs == Prefs("weekly", 3, 6, "America/New_York")
        assert len(subs.follows_of([sub.id])[sub.id]) == 3
        [msg] = mail_to(sink, "cli@example.org")
        printed = re.search(r"confirm: (\S+)", p.stdout).group(1)
        assert link_in(msg, "/subscription/confirm") == printed
        assert httpx.get(printed).status_code == 200
    assert subs.get(sub.id).status == "active"


def test_cli_subscribe_confirm_and_bad_input(pf, sink, subs, cli_env):
    p = run_cli("digest", "subscribe", "admin-made@example.org", "--category", "cs.CL", "--confirm", db=pf.db_path)
    assert p.returncode == 0 and ": active" in p.stdout and "confirm:" not in p.stdout
    assert mail_to(sink, "admin-made@example.org", wait=0) == []  # vouched for by the administrator: no email
    assert subs.by_email("admin-made@example.org").active
    bad = {
        ("not-an-address",): "not a valid email address",
        ("x@example.org", "--timezone", "Mars/Base"): "unknown time zone",
        ("x@example.org", "--search", '"unclosed'): "unbalanced quote",
        ("x@example.org", "--frequency", "hourly"): "daily or weekly",
        ("x@example.org", "--day", "someday"): "--day must be one of",
        ("x@example.org", "--hour", "24"): "delivery hour",
    }
    for args, message in bad.items():
        p = run_cli("digest", "subscribe", *args, db=pf.db_path)
        assert p.returncode == 1 and message in p.stderr and len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)
    assert subs.by_email("x@example.org") is None


# -- preview -----------------------------------------------------------------------------------------

def test_preview_shows_the_next_digest_escaped(pf, base, subs, links, tmp_path):
    from conftest import write_jsonl

    from paperfeed.ingestion.pipeline import ingest_paths
    from paperfeed.mail.schedule import next_period
    from paperfeed.mail.subscriptions import utcnow

    sid = active(subs, "preview@example.org")
    subs.add_follow(sid, "search", "quasicrystal")
    day = next_period(subs.get(sid), utcnow()).window_start  # papers of the next digest's window
    title = "<script>alert('p')</script> Quasicrystal lattices & friends"
    ingest_paths(pf.store, [str(write_jsonl(tmp_path / "new.jsonl", [
        {"id": "2611.00001", "date": day.isoformat(), "title": title, "abstract": "Quasicrystal <b>growth</b>.",
         "authors": ["Q. Crystal"], "categories": ["cond-mat.mtrl-sci"]}]))])

    r = httpx.get(base + "/subscription/preview", params={"t": links.token("manage", sid)})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "script-src" not in r.headers["content-security-policy"]
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert "<script>" not in r.text and "&lt;script&gt;alert(" in r.text
    assert "quasicrystal" in r.text.lower() and "/papers/2611.00001" in r.text
    assert f"{base}/unsubscribe?t=" in r.text and f"{base}/subscription?t=" in r.text
    assert not subs_digests(pf, sid)  # previewing records nothing: the papers stay for the real digest
    assert httpx.get(base + "/subscription/preview", params={"t": links.token("unsubscribe", sid)}).status_code == 400
    prefs = httpx.get(links.manage_url(sid)).text  # the preferences page links to the preview
    preview = html.unescape(re.search(r'href="(/subscription/preview\?t=[^"]+)"', prefs).group(1))
    assert "/papers/2611.00001" in httpx.get(base + preview).text


def subs_digests(pf, sid: int) -> list:
    from sqlalchemy import select

    from paperfeed.store.schema import digests

    with pf.store.read() as conn:
        return conn.execute(select(digests.c.id).where(digests.c.subscriber_id == sid)).all()


def test_site_without_mail_says_so(pf, subs, monkeypatch):
    monkeypatch.setenv("PAPERFEED_SMTP_PORT", "not-a-port")  # malformed settings: the site serves, mail is off
    settings = WebSettings(secret=SECRET, rate_limits=ROOMY)  # limits live in the store: not what this tests
    assert settings.mail is None
    with serve_in_thread(create_app(pf, settings)) as url, client(url) as c:
        assert c.get("/papers").status_code == 200
        r = subscribe(c, "nomail@example.org")
    assert r.status_code == 503 and "not set up to send email" in r.text
    assert subs.by_email("nomail@example.org") is None
