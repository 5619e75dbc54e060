"""The page cache for anonymous visitors: pages come from it, yet never stale and never with another
visitor's CSRF token.  Real server on 127.0.0.1, real store of 300 papers."""

from __future__ import annotations

import re

import httpx
import pytest
from account_helpers import verified_member
from conftest import make_site_pf

from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pf = make_site_pf(tmp_path_factory.mktemp("pagecache"))
    app = create_app(pf, WebSettings(secret="test-secret", arxiv_api_url=None))
    with serve_in_thread(app) as base:
        yield pf, app, base
    pf.close()


def count_of(html: str, pid: str) -> int:
    """The upvote count shown beside paper `pid` on a listing page."""
    article = next(a for a in html.split("<article")[1:] if f'href="/papers/{pid}"' in a)
    return int(re.search(r'<span class="count">(\d+)</span>', article).group(1))


def first_id(html: str) -> str:
    return re.search(r'<h[23] id="t-\d+"><a href="/papers/([^"]+)">', html).group(1)


def test_anonymous_pages_are_shared_but_tokens_are_not(site):
    _pf, app, base = site
    with httpx.Client(base_url=base) as a, httpx.Client(base_url=base) as b:
        pa, pb = a.get("/papers").text, b.get("/papers").text
        ta, tb = set(_CSRF.findall(pa)), set(_CSRF.findall(pb))
        assert len(ta) == len(tb) == 1 and ta != tb  # each visitor gets their own token
        assert "\x00" not in pa
        assert _CSRF.sub("", pa) == _CSRF.sub("", pb)  # otherwise the same page
        assert app.state.web.pages.hits >= 1
        # the token in the page is the one the session expects: an upvote form posts through to log-in
        r = a.post(f"/papers/{first_id(pa)}/upvote", data={"csrf_token": ta.pop()})
        assert r.status_code in (303, 401) and r.status_code != 403


def test_a_vote_shows_at_once_on_cached_pages(site):
    _pf, _app, base = site
    with httpx.Client(base_url=base) as anon, httpx.Client(base_url=base) as member:
        page = anon.get("/papers").text
        pid = first_id(page)
        before = count_of(page, pid)
        assert f'<span class="count">{before}</span>' in anon.get(f"/papers/{pid}").text  # now cached
        assert anon.get("/papers/trending?period=day").text.count("No upvotes in the past day") == 1
        verified_member(_pf.store, "cache@example.org", PASSWORD)
        tok = _CSRF.search(member.get("/login").text).group(1)
        assert member.post("/login", data={"email": "cache@example.org", "password": PASSWORD,
                                           "csrf_token": tok, "next": "/papers"}).status_code == 303
        tok = _CSRF.search(member.get("/papers").text).group(1)
        r = member.post(f"/papers/{pid}/upvote", data={"csrf_token": tok})
        assert r.status_code == 303, r.text
        assert member.get(f"/api/papers/{pid}").json()["upvotes"] == before + 1, r.headers
        assert count_of(anon.get("/papers").text, pid) == before + 1
        assert f'<span class="count">{before + 1}</span>' in anon.get(f"/papers/{pid}").text
        trending = anon.get("/papers/trending?period=day").text
        assert "No upvotes in the past day" not in trending and first_id(trending) == pid
        assert 'aria-pressed="true"' in member.get("/papers").text  # members' own view is never shared
        assert 'aria-pressed="true"' not in anon.get("/papers").text

