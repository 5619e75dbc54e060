"""Profiles over real HTTP (uvicorn) on SQLite and PostgreSQL: the settings form on /profile (handle taken,
look-alike, invalid, reserved; bio and links checked, `javascript:` refused), the public page /members/{handle}
(hostile text escaped, links rel="nofollow ugc noopener", no email, private and link-shared collections and
hidden comments left out, look-alike URLs 404), and author names that link to a profile only once a claim is
approved (cards, paper page, author page; also for anonymous visitors, whose pages come from the page cache)."""

from __future__ import annotations

import html
import re
from datetime import date
from urllib.parse import quote

import httpx
import pytest
from account_helpers import csrf, log_in, verified_member
from conftest import make_site_pf
from sqlalchemy import select
from store_backends import BACKENDS

from paperfeed.people.claims import author_key
from paperfeed.store import collections as coll
from paperfeed.store import discussion as talk
from paperfeed.store import people as P
from paperfeed.store.schema import papers
from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread

LATEST = date(2025, 10, 1)


@pytest.fixture(scope="module", params=BACKENDS)
def pf(tmp_path_factory, request):
    pf = make_site_pf(tmp_path_factory.mktemp("profiles"), request.param)
    yield pf
    pf.close()


@pytest.fixture(scope="module")
def base(pf):
    roomy = {k: (1000, 100.0) for k in ("login", "profile", "upvote")}
    with serve_in_thread(create_app(pf, WebSettings(secret="test-secret", arxiv_api_url=None,
                                                    rate_limits=roomy))) as url:
        yield url


def member(pf, base, email):
    user = verified_member(pf.store, email)
    c = httpx.Client(base_url=base, timeout=60)
    assert log_in(c, email).status_code == 303
    return user, c


def save(c, **fields):
    data = {"handle": "", "display_name": "", "bio": "", "links": "", **fields,
            "csrf_token": csrf(c, "/profile")}
    return c.post("/profile/settings", data=data)


def field_error(page: str, name: str) -> str:
    m = re.search(rf'<p class="error field" id="{name}-err">([^<]*)</p>', page)
    return html.unescape(m.group(1)) if m else ""


def a_listed_paper(pf) -> tuple[int, str, list[str]]:
    """A paper on the latest day with at least two plain author names."""
    with pf.store.read() as conn:
        ids = list(conn.execute(select(papers.c.id).where(papers.c.listed == LATEST)).scalars())
    for pid in sorted(ids):
        p = pf.store.get(pid)
        if p and len(p.authors) >= 2 and all(re.fullmatch(r"[\w .'-]+", a) for a in p.authors[:2]):
            return pf.store.pk_of(pid), pid, p.authors
    raise AssertionError("no paper with plain author names on the latest day")


def test_choose_and_change_a_handle_with_clear_errors(pf, base):
    ann, ca = member(pf, base, "ann@profiles.example")
    _bob, cb = member(pf, base, "bob@profiles.example")
    assert f"member{ann.id}" in ca.get("/profile").text  # no handle yet: shown as before
    r = save(ca, handle="Ann_Lee")
    assert r.status_code == 303 and r.headers["location"] == "/profile?saved=1"
    page = ca.get("/profile?saved=1").text
    assert "Your public profile was saved." in page
    assert re.search(r'<a href="/profile"[^>]*>ann_lee</a>', page)  # the header shows the chosen handle
    assert '<a class="your-profile" href="/members/ann_lee"' in page
    assert ca.get("/members/ann_lee").status_code == 200

    cases = {
        "ANN_LEE": "is taken",  # the same handle in other case
        "ann_1ee": "looks too much like the handle ann_lee",  # TR39 skeleton: 1 -> l
        "аnn_lee": "one alphabet",  # a Cyrillic а among Latin letters
        "an": "3 to 30 characters",
        "bob smith": "spaces",
        "bob!": "letters, digits",
        "admin": "reserved",
        f"member{ann.id + 1000}": "reserved",
    }
    for typed, why in cases.items():
        r = save(cb, handle=typed, display_name="Bob")
        assert r.status_code == 400, typed
        assert why in field_error(r.text, "handle"), (typed, field_error(r.text, "handle"))
        assert f'value="{html.escape(typed, quote=True)}"' in r.text  # what was typed is kept
        assert P.member_by_handle(pf.store, "bob") is None
    bob = P.member_by_handle_key(pf.store, "bob")
    assert bob is None
    assert P.member(pf.store, _bob.id).display_name is None  # nothing saved while the handle was wrong
    # Ann changes hers: the old one is free again, the new one is her page.
    assert save(ca, handle="ann-lee").status_code == 303
    assert ca.get("/members/ann_lee").status_code == 404
    assert ca.get("/members/ann-lee").status_code == 200
    assert save(cb, handle="ann_lee").status_code == 303
    assert P.member(pf.store, _bob.id).handle == "ann_lee"
    # An emptied handle field does not remove a handle.
    r = save(ca, handle="")
    assert r.status_code == 400 and "cannot be removed" in field_error(r.text, "handle")
    # A display name may not pass for another member's handle.
    r = save(ca, handle="ann-lee", display_name="@Ann_Lee")
    assert r.status_code == 400 and "looks like another member's handle" in field_error(r.text, "display_name")
    # No CSRF token: 403, nothing changes.
    r = ca.post("/profile/settings", data={"handle": "zed", "display_name": "", "bio": "", "links": ""})
    assert r.status_code == 403 and P.member(pf.store, ann.id).handle == "ann-lee"


def test_bio_and_links_are_checked_and_rendered_escaped(pf, base):
    eve, c = member(pf, base, "eve@profiles.example")
    for links, why in (("javascript:alert(1)", "http:// or https://"), ("data:text/html,<b>x</b>", "http://"),
                       ("/relative/path", "http://"), ("\n".join(f"https://e.example/{i}" for i in range(6)),
                                                       "At most 5 links")):
        r = save(c, handle="eve_h", links=links)
        assert r.status_code == 400 and why in field_error(r.text, "links"), (links, r.text[-500:])
    assert P.member(pf.store, eve.id).handle is None  # a bad link: nothing at all saved
    r = save(c, handle="eve_h", bio="x" * 501)
    assert r.status_code == 400 and "at most 500" in field_error(r.text, "bio")
    hostile_bio = "<script>alert('bio')</script>\nLine two & <b>bold</b>"
    hostile_name = "Eve <img src=x onerror=alert(1)>"
    r = save(c, handle="eve_h", display_name=hostile_name, bio=hostile_bio,
             links="https://eve.example/about\n\nhttp://eve.example/?q=<x>\"")
    assert r.status_code == 400 and "http://" in field_error(r.text, "links")  # raw < > " are refused too
    r = save(c, handle="eve_h", display_name=hostile_name, bio=hostile_bio, links="https://eve.example/about")
    assert r.status_code == 303
    page = httpx.get(f"{base}/members/eve_h", timeout=60).text  # as an anonymous visitor
    assert "<script>alert('bio')</script>" not in page and "<img src=x" not in page
    assert html.escape(hostile_bio, quote=False).replace("'", "&#39;") in page
    assert "Eve &lt;img src=x onerror=alert(1)&gt;" in page
    assert '<a href="https://eve.example/about" rel="nofollow ugc noopener">' in page
    assert "eve@profiles.example" not in page and "profiles.example" not in page
    assert P.member(pf.store, eve.id).links == ["https://eve.example/about"]


def test_public_page_shows_only_what_is_public(pf, base):
    meg, cm = member(pf, base, "meg@profiles.example")
    assert save(cm, handle="meg", display_name="Meg M.").status_code == 303
    pk, pid, _authors = a_listed_paper(pf)
    shelf = coll.create(pf.store, meg.id, "Reading group picks", "public")
    secret = coll.create(pf.store, meg.id, "Secret shelf", "private")
    shared = coll.create(pf.store, meg.id, "Link-only shelf", "link")
    assert shelf and secret and shared
    for c in (shelf, secret, shared):
        coll.add(pf.store, c.id, pk)
    shown = talk.add_comment(pf.store, pk, meg.id, "A visible remark about the bounds")
    hidden = talk.add_comment(pf.store, pk, meg.id, "A remark a moderator hid")
    gone = talk.add_comment(pf.store, pk, meg.id, "A remark she deleted")
    assert shown and hidden and gone
    mod = verified_member(pf.store, "mod@profiles.example")
    P.set_role(pf.store, mod.id, "moderator")
    assert talk.moderate(pf.store, mod.id, "hide", hidden.id)
    assert talk.delete_comment(pf.store, gone.id, meg.id)
    anon = httpx.Client(base_url=base, timeout=60)
    r = anon.get("/members/MEG")  # case is folded like a typed handle
    assert r.status_code == 200
    page = r.text
    assert "Meg M." in page and "@meg" in page
    assert "Reading group picks" in page and f'href="/papers/{pid}"' in page
    assert "Secret shelf" not in page and "Link-only shelf" not in page and shared.share_token not in page
    assert "A visible remark about the bounds" in page and f'href="/papers/{pid}#c-{shown.id}"' in page
    assert "moderator hid" not in page and "she deleted" not in page
    assert "meg@profiles.example" not in page
    api = anon.get("/api/members/meg").json()
    assert [c["name"] for c in api["public_collections"]] == ["Reading group picks"]
    assert api["public_collections"][0]["paper_ids"] == [pid]
    assert [c["id"] for c in api["recent_comments"]] == [shown.id]
    assert "share_token" not in str(api) and "profiles.example" not in str(api)
    # the comment byline on the paper page links to her profile
    assert re.search(r'<strong class="writer"><a href="/members/meg">meg</a></strong>', anon.get(f"/papers/{pid}").text)
    # Unknown, look-alike (Cyrillic е), placeholder and banned handles: one 404.
    P.ban(pf.store, meg.id)
    misses = [anon.get(f"/members/{h}") for h in ("nobody-here", "mеg", f"member{meg.id}", "meg")]
    assert {m.status_code for m in misses} == {404}
    assert len({m.text.replace(m.url.path, "") for m in misses}) == 1
    P.unban(pf.store, meg.id)
    assert anon.get("/members/meg").status_code == 200


def test_author_name_links_to_the_profile_only_after_approval(pf, base):
    ida, ci = member(pf, base, "ida@profiles.example")
    assert save(ci, handle="ida_k").status_code == 303
    pk, pid, authors = a_listed_paper(pf)
    name = authors[1]
    anon = httpx.Client(base_url=base, timeout=60)
    link = '<a class="claimed" href="/members/ida_k"'
    day = f"/papers?date={LATEST.isoformat()}"
    author_page = "/authors/" + quote(name, safe="")
    before = {u: anon.get(u).text for u in (day, f"/papers/{pid}", author_page)}  # cached for anonymous visitors
    assert all(link not in t for t in before.values())
    claim = P.create_claim(pf.store, ida.id, pk, name, author_key(name))
    assert claim is not None
    assert link not in anon.get(day).text  # pending: not yet
    assert P.decide_claim(pf.store, claim.id, "approved", decided_by=None)
    for u in (day, f"/papers/{pid}", author_page):
        t = anon.get(u).text
        assert f'{link} title="Profile of @ida_k">{html.escape(name)}</a>' in t, u
        assert t.count(link) == 1, u  # only the claimed author, and only on this paper's card
    paper_page = anon.get(f"/papers/{pid}").text
    assert '(claimed by <a href="/members/ida_k">@ida_k</a>)' in paper_page
    assert f'<a href="/authors/{quote(authors[0], safe="")}">' in paper_page
    assert ci.get(day).text.count(link) == 1  # and for a member (no cache)
    profile = anon.get("/members/ida_k").text
    assert f'href="/papers/{pid}"' in profile
    assert anon.get("/api/members/ida_k").json()["claimed_papers"] == [{"paper_id": pid, "author_name": name}]
