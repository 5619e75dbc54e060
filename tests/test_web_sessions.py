"""Server-side sessions, the Secure cookie setting and API token scopes/expiry, over real HTTP.

A session cookie copied before log-out opens nothing after it; "log out everywhere" and a password
change end the account's other sessions; idle and absolute expiry; a new session id at every log-in.
"""

from __future__ import annotations

import re
from contextlib import closing
from datetime import timedelta

import httpx
import pytest
from account_helpers import PASSWORD, csrf, log_in, verified_member
from conftest import make_site_pf
from sqlalchemy import update

from paperfeed.store.accounts import utcnow
from paperfeed.store.schema import api_tokens, sessions
from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread

ROOMY = {k: (1000, 100.0) for k in ("signup", "login", "upvote", "submit")}


@pytest.fixture(scope="module")
def pf(tmp_path_factory):
    pf = make_site_pf(tmp_path_factory.mktemp("sessions"))
    yield pf
    pf.close()


@pytest.fixture(scope="module")
def base(pf):
    settings = WebSettings(secret="sessions-secret", rate_limits=ROOMY, arxiv_api_url=None, session_idle_days=1,
                           session_max_days=10)
    with serve_in_thread(create_app(pf, settings)) as url:
        yield url


def member_client(base: str, pf, email: str, password: str = PASSWORD, new: bool = True) -> httpx.Client:
    if new:
        verified_member(pf.store, email, password)
    c = httpx.Client(base_url=base, timeout=60)
    assert log_in(c, email, password).status_code == 303
    return c


def logged_in(cookie: str, base: str) -> bool:
    """Does this session cookie (copied out of a browser, say) open /profile?"""
    with httpx.Client(base_url=base, timeout=60, cookies={"paperfeed_session": cookie}) as c:
        r = c.get("/profile")
        return r.status_code == 200 and "Log out everywhere" in r.text


def test_a_cookie_copied_before_log_out_is_refused_after(base, pf):
    with closing(member_client(base, pf, "copied@example.org")) as c:
        stolen = c.cookies["paperfeed_session"]
        assert logged_in(stolen, base)
        assert c.post("/logout", data={"csrf_token": csrf(c)}).status_code == 303
        assert "Log in" in c.get("/papers").text
    assert not logged_in(stolen, base)


def test_log_out_everywhere_ends_every_session(base, pf):
    laptop = member_client(base, pf, "everywhere@example.org")
    phone = httpx.Client(base_url=base, timeout=60, headers={"User-Agent": "Phone <script>alert(1)</script>"})
    assert log_in(phone, "everywhere@example.org").status_code == 303
    with closing(laptop), closing(phone):
        phone_cookie = phone.cookies["paperfeed_session"]
        page = laptop.get("/profile").text
        assert "logged in in 2 places" in page and "python-httpx" in page  # each session's browser, escaped
        assert "Phone &lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
        r = laptop.post("/logout/everywhere", data={"csrf_token": csrf(laptop, "/profile")})
        assert r.status_code == 303
        assert not logged_in(phone_cookie, base)
        assert phone.get("/profile").status_code == 303  # sent to log in
        assert laptop.get("/profile").status_code == 303


def test_a_password_change_ends_the_other_sessions(base, pf):
    here = member_client(base, pf, "changer@example.org")
    there = member_client(base, pf, "changer@example.org", new=False)
    with closing(here), closing(there):
        there_cookie = there.cookies["paperfeed_session"]
        token = csrf(here, "/profile")
        wrong = here.post("/profile/password", data={"current_password": "not it", "new_password": "x" * 20,
                                                    "csrf_token": token})
        assert wrong.status_code == 400 and "not right" in wrong.text and logged_in(there_cookie, base)
        weak = here.post("/profile/password", data={"current_password": PASSWORD, "new_password": "short",
                                                   "csrf_token": token})
        assert weak.status_code == 400 and "at least 15" in weak.text
        r = here.post("/profile/password", data={"current_password": PASSWORD,
                                                 "new_password": "a brand new passphrase", "csrf_token": token})
        assert r.status_code == 303 and r.headers["location"] == "/profile?changed=1"
        assert "every other session was logged out" in here.get("/profile?changed=1").text  # this one stays
        assert not logged_in(there_cookie, base)
        assert log_in(there, "changer@example.org").status_code == 400  # the old password is gone
        assert log_in(there, "changer@example.org", "a brand new passphrase").status_code == 303


def _age_sessions(pf, email: str, **ago: timedelta) -> None:
    """Move this account's sessions back in time (what a week of not visiting does)."""
    from paperfeed.store.accounts import AccountStore

    uid = AccountStore(pf.store).user_by_email(email).id
    values = {f"{k}_at": utcnow() - v for k, v in ago.items()}
    with pf.store.write() as conn:
        conn.execute(update(sessions).where(sessions.c.user_id == uid).values(**values))


def test_idle_and_absolute_expiry(base, pf):
    with closing(member_client(base, pf, "idle@example.org")) as c:
        _age_sessions(pf, "idle@example.org", last_seen=timedelta(hours=23))
        assert c.get("/profile").status_code == 200  # within a day of the last request: still on
        _age_sessions(pf, "idle@example.org", last_seen=timedelta(hours=25))
        assert c.get("/profile").status_code == 303  # idle for more than a day (session_idle_days=1)
    with closing(member_client(base, pf, "old@example.org")) as c:
        _age_sessions(pf, "old@example.org", created=timedelta(days=9))
        assert c.get("/profile").status_code == 200
        _age_sessions(pf, "old@example.org", created=timedelta(days=10, minutes=1))
        assert c.get("/profile").status_code == 303  # used every day, but older than session_max_days=10


def test_a_new_session_id_at_log_in(base, pf):
    verified_member(pf.store, "fixation@example.org")
    with httpx.Client(base_url=base, timeout=60) as victim:
        victim.get("/login")
        planted = victim.cookies["paperfeed_session"]  # what an attacker could have planted before log-in
        assert log_in(victim, "fixation@example.org").status_code == 303
        first = victim.cookies["paperfeed_session"]
        assert first != planted and not logged_in(planted, base) and logged_in(first, base)
        assert log_in(victim, "fixation@example.org").status_code == 303  # logging in again: another new id
        assert not logged_in(first, base) and logged_in(victim.cookies["paperfeed_session"], base)


def test_secure_cookie_is_a_setting(pf, monkeypatch):
    monkeypatch.delenv("PAPERFEED_SECURE_COOKIES", raising=False)
    monkeypatch.setenv("PAPERFEED_BASE_URL", "https://papers.example.org")
    assert WebSettings().https_only_cookies is True  # https base URL: on by default
    monkeypatch.setenv("PAPERFEED_SECURE_COOKIES", "0")
    assert WebSettings().https_only_cookies is False  # the operator's word wins
    monkeypatch.setenv("PAPERFEED_BASE_URL", "http://127.0.0.1:8000")
    monkeypatch.setenv("PAPERFEED_SECURE_COOKIES", "1")
    settings = WebSettings(secret="s", arxiv_api_url=None)
    with serve_in_thread(create_app(pf, settings)) as url:
        cookie = httpx.get(url + "/login").headers["set-cookie"].lower()
        assert "; secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    monkeypatch.delenv("PAPERFEED_SECURE_COOKIES")
    with serve_in_thread(create_app(pf, WebSettings(secret="s", arxiv_api_url=None))) as url:
        assert "; secure" not in httpx.get(url + "/login").headers["set-cookie"].lower()


def _new_token(c: httpx.Client, scope: str, days: str) -> str:
    page = c.post("/tokens", data={"name": f"{scope} {days}", "scope": scope, "expires_days": days,
                                   "csrf_token": csrf(c, "/tokens")})
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    return re.search(r'<code class="token">(pf_[^<]+)</code>', page.text).group(1)


def test_token_scopes_and_expiry(base, pf):
    pid = pf.engine.search("learning", limit=1)[0].paper.id
    with closing(member_client(base, pf, "scopes@example.org")) as c:
        reader = _new_token(c, "read", "30")
        writer = _new_token(c, "write", "0")
        soon = _new_token(c, "write", "365")
        assert c.post("/tokens", data={"scope": "admin", "expires_days": "30",
                                       "csrf_token": csrf(c, "/tokens")}).status_code == 400
        listing = c.get("/tokens").text
        assert "(read)" in listing and "never expires" in listing and "expires 20" in listing
    with httpx.Client(base_url=base, timeout=60) as api:
        r = api.post(f"/api/papers/{pid}/upvote", headers={"Authorization": f"Bearer {reader}"})
        assert r.status_code == 403 and "read-only" in r.json()["detail"]
        r = api.post("/api/submissions", headers={"Authorization": f"Bearer {reader}"}, json={"paper": pid})
        assert r.status_code == 403 and "write scope" in r.json()["detail"]
        assert api.post(f"/api/papers/{pid}/upvote", headers={"Authorization": f"Bearer {writer}"}).status_code == 200
        assert api.post(f"/api/papers/{pid}/upvote", headers={"Authorization": f"Bearer {soon}"}).status_code == 200
        with pf.store.write() as conn:  # a year later
            conn.execute(update(api_tokens).where(api_tokens.c.name == "write 365")
                         .values(expires_at=utcnow() - timedelta(seconds=1)))
        r = api.post(f"/api/papers/{pid}/upvote", headers={"Authorization": f"Bearer {soon}"})
        assert r.status_code == 401 and "expired" in r.json()["detail"] and "www-authenticate" in r.headers
    spec = httpx.get(base + "/openapi.json").json()
    assert "403" in spec["paths"]["/api/submissions"]["post"]["responses"]


def test_dead_sessions_are_purged(pf):
    from paperfeed.accounts.sessions import SessionPolicy
    from paperfeed.store.accounts import AccountStore

    acc = AccountStore(pf.store)
    uid = verified_member(pf.store, "purge@example.org").id
    policy = SessionPolicy(acc, absolute=timedelta(days=30))
    live, revoked = policy.start(uid), policy.start(uid)
    policy.end(revoked)
    assert acc.purge_sessions(utcnow() - timedelta(days=30), utcnow() - timedelta(days=1)) == 0  # too recent
    n = acc.purge_sessions(utcnow() - timedelta(days=30), utcnow() + timedelta(seconds=1))
    assert n >= 1 and policy.user(revoked) is None and policy.user(live) is not None
