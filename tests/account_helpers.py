"""Helpers for the account tests: sign up through the real form, read the real email, follow its link.

Shared by the tests of accounts, sessions, tokens and rate limits; each test module runs its own site and
its own aiosmtpd sink (`tests/smtp_servers.py`) so the messages a test reads are its own.
"""

from __future__ import annotations

import re
import time
from email.message import EmailMessage
from urllib.parse import urlparse

import httpx
from smtp_servers import Sink

from paperfeed.accounts.passwords import hash_password
from paperfeed.store.accounts import AccountStore, User
from paperfeed.store.papers import Store

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_URL = re.compile(r"https?://\S+")


def csrf(c: httpx.Client, page: str = "/papers") -> str:
    m = _CSRF.search(c.get(page).text)
    assert m, page
    return m.group(1)


def sign_up(c: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return c.post("/signup", data={"email": email, "password": password, "csrf_token": csrf(c, "/signup"),
                                   "next": "/papers"})


def log_in(c: httpx.Client, email: str, password: str = PASSWORD, next: str = "/papers") -> httpx.Response:
    return c.post("/login", data={"email": email, "password": password, "csrf_token": csrf(c, "/login"),
                                  "next": next})


def mails_to(sink: Sink, address: str, wait: float = 5.0) -> list[EmailMessage]:
    """Messages the sink accepted for `address` (sending is synchronous; the wait only absorbs scheduling)."""
    deadline = time.monotonic() + wait
    while True:
        found = [r.message for r in list(sink.received) if address in r.rcpt_tos]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def path_of_link(msg: EmailMessage, path: str) -> str:
    """The site-relative address of the one link to `path` in the message's text part."""
    text = msg.get_body(("plain",)).get_content()
    urls = {u for u in _URL.findall(text) if urlparse(u).path == path}
    assert len(urls) == 1, text
    u = urlparse(urls.pop())
    return f"{u.path}?{u.query}"


def verify_from_mail(c: httpx.Client, sink: Sink, email: str) -> httpx.Response:
    """Open the newest verification link mailed to `email`."""
    msgs = mails_to(sink, email)
    assert msgs, f"no email to {email}"
    return c.get(path_of_link(msgs[-1], "/verify"))


def sign_up_verified(c: httpx.Client, sink: Sink, email: str, password: str = PASSWORD) -> None:
    """The whole sign-up as a person does it: form, email, link, log-in; leaves `c` logged in."""
    assert sign_up(c, email, password).status_code == 200
    r = verify_from_mail(c, sink, email)
    assert r.status_code == 303 and r.headers["location"] == "/login?verified=1", r.text
    assert log_in(c, email, password).status_code == 303


def verified_member(store: Store, email: str, password: str = PASSWORD) -> User:
    """An account whose address is already verified, for tests about what members do (not about signing up)."""
    user = AccountStore(store).create_user(email, hash_password(password), verified=True)
    assert user is not None
    return user
