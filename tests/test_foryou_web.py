""""For you" over real HTTP (uvicorn on a socket) on SQLite and PostgreSQL: every signal given through the
site's own forms changes `/papers/for-you` and says why, a dismissed or already-seen paper never comes back
unless asked, the API's token checks, the private feed's signature checks, the download and the delete of
all signals, and hostile names escaped in the page and in the feed.

The site serves 300 real arXiv papers plus a hostile one (tests/conftest.py `make_site_pf`), no embeddings:
the ranker then works from tf-idf alone, which is what a new install has before embedding finishes.
"""

from __future__ import annotations

import html
import itertools
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from account_helpers import csrf, log_in, verified_member
from conftest import HOSTILE, HOSTILE_ID, make_site_pf

from paperfeed.store import signals as signals_sql
from paperfeed.store.accounts import AccountStore
from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread

LATEST = "2025-10-01"
ROOMY = {k: (1000, 100.0) for k in ("signup", "login", "upvote", "submit", "preferences")}
_emails = itertools.count(1)
CARD = re.compile(r'<article class="paper" id="p-(\d+)"')
PICK_TITLE = re.compile(r'<div class="pick">\s*<article class="paper" id="p-\d+"[^>]*>.*?'
                        r'<a href="/papers/([^"?]+)(?:\?from=foryou)?"', re.S)
REASON = re.compile(r'<p class="reason">(.*?)</p>', re.S)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request, tmp_path_factory) -> Iterator[tuple[str, object]]:
    pf = make_site_pf(tmp_path_factory.mktemp(f"foryou-{request.param}"), request.param)
    settings = WebSettings(secret="test-secret", rate_limits=ROOMY, arxiv_api_url="")
    with serve_in_thread(create_app(pf, settings)) as url:
        settings.base_url = url
        yield url, pf
    pf.close()


def member(site) -> tuple[httpx.Client, int]:
    """A new verified member, logged in: (client, user id)."""
    url, pf = site
    email = f"reader{next(_emails)}@example.org"
    user = verified_member(pf.store, email)
    c = httpx.Client(base_url=url, timeout=60)
    assert log_in(c, email).status_code == 303
    return c, user.id


def picks(c: httpx.Client, query: str = "") -> list[str]:
    """Paper ids of the picks, in order, as the page shows them."""
    r = c.get("/papers/for-you" + query)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    return PICK_TITLE.findall(r.text)


def reasons(c: httpx.Client, query: str = "") -> list[str]:
    page = c.get("/papers/for-you" + query).text
    return [html.unescape(re.sub(r"<[^>]+>", "", r)).strip() for r in REASON.findall(page)]


def post(c: httpx.Client, path: str, **data: str) -> httpx.Response:
    return c.post(path, data={"csrf_token": csrf(c, "/papers/for-you/settings"), **data})


def ids_of_day(pf, day: str = "2025-09-29") -> list[str]:
    from datetime import date

    from paperfeed.store import listings

    d = date.fromisoformat(day)
    pks = listings.period_pks(pf.store, d, d)
    found = pf.store.get_many(pks)
    return [found[pk].id for pk in pks]


def test_cold_start_leads_to_onboarding_and_anonymous_is_sent_to_log_in(site):
    url, _ = site
    with httpx.Client(base_url=url) as anon:
        r = anon.get("/papers/for-you")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        page = anon.get(f"/papers?date={LATEST}").text
        assert "Not interested" not in page and "/save" not in page  # no card controls for visitors
    c, _ = member(site)
    page = c.get("/papers/for-you").text
    assert 'href="/onboarding"' in page and "from no signals yet" in page
    assert picks(c) == []
    day = c.get(f"/papers?date={LATEST}").text
    assert "Not interested" in day and "Save</button>" in day and ">For you</a>" in day


def test_save_from_a_card_adds_a_because_you_saved_reason(site):
    url, pf = site
    c, uid = member(site)
    target = ids_of_day(pf)[0]
    r = c.post(f"/papers/{target}/save", data={"csrf_token": csrf(c), "next": "/papers?date=2025-09-29#p-1"})
    assert r.status_code == 303 and r.headers["location"] == "/papers?date=2025-09-29#p-1"
    got = picks(c)
    assert got and target not in got  # a saved paper is not picked back at the member
    why = reasons(c)
    assert any(w.startswith("because you saved") for w in why)
    page = c.get("/papers/for-you").text
    assert f'href="/papers/{target}"' in page  # the reason links the saved paper
    assert "from 1 saved" in page
    export = c.get("/papers/for-you/signals.json").json()
    got_collections = [(x["name"], x["visibility"], x["papers"]) for x in export["collections"]]
    assert got_collections == [("Saved", "private", [target])]
    assert "Saved ✓" in c.get(f"/papers/{target}").text
    post(c, f"/papers/{target}/save")  # pressed again: out of "Saved"
    assert c.get("/papers/for-you/signals.json").json()["collections"][0]["papers"] == []
    assert picks(c) == []


def test_dismiss_removes_a_pick_for_good_until_undone(site):
    _, pf = site
    c, uid = member(site)
    post(c, f"/papers/{ids_of_day(pf)[0]}/save")
    first = picks(c)
    victim = first[0]
    r = c.post(f"/papers/{victim}/not-interested",
               data={"csrf_token": csrf(c), "next": f"/papers/for-you?hidden={victim}"})
    assert r.status_code == 303
    page = c.get(r.headers["location"]).text
    assert "It will not come back" in page and f"/papers/{victim}/not-interested/undo" in page
    for query in ("", "?include_seen=1"):  # "show again" brings back seen papers, never dismissed ones
        assert victim not in picks(c, query)
    assert "1 dismissed" in c.get("/papers/for-you").text
    # On the daily list the card becomes a stub in the same place, with Undo.
    pk = pf.store.pk_of(victim)
    listed = str(pf.store.get(victim).listed)
    page_no = ids_of_day(pf, listed).index(victim) // WebSettings().page_size + 1
    day = c.get(f"/papers?date={listed}&sort=newest&p={page_no}").text
    assert f'<article class="paper dismissed" id="p-{pk}"' in day
    post(c, f"/papers/{victim}/not-interested/undo")
    assert victim in picks(c)


def test_follow_author_reason_and_unfollow_from_the_reason(site):
    url, pf = site
    c, uid = member(site)
    paper = pf.store.get(ids_of_day(pf)[5])
    author = paper.authors[0]
    page = c.get(f"/authors/{author}").text
    assert "in For you</button>" in page
    r = post(c, "/papers/for-you/follow", kind="author", value=author, next=f"/authors/{author}")
    assert r.status_code == 303
    assert "Following ✓" in c.get(f"/authors/{author}").text
    assert paper.id in picks(c)
    assert f"By {author}, whom you follow" in reasons(c)
    page = c.get("/papers/for-you").text
    assert f"Unfollow {html.escape(author)}" in page
    post(c, "/papers/for-you/unfollow", kind="author", value=author, next="/papers/for-you")
    assert f"By {author}, whom you follow" not in reasons(c)
    assert picks(c) == []


def test_follow_category_and_search_give_their_reasons(site):
    c, uid = member(site)
    assert post(c, "/papers/for-you/follow", kind="category", value="cs.CL").status_code == 303
    assert "New in cs.CL, which you follow" in reasons(c)
    # From the search results page: "follow this search".
    page = c.get("/papers?q=language+models").text
    assert "Follow this search in For you" in page
    post(c, "/papers/for-you/follow", kind="search", value="language models", next="/papers?q=language+models")
    assert "Following ✓" in c.get("/papers?q=language+models").text
    assert "Matches your search \u201clanguage models\u201d" in reasons(c)
    for kind, value, words in (("category", "not a category!", "A category looks like"),
                               ("search", "title:(", "does not parse"), ("planet", "x", "Choose what to follow"),
                               ("author", "", "Give the author")):
        r = post(c, "/papers/for-you/follow", kind=kind, value=value)
        assert r.status_code == 400 and words in html.unescape(r.text)
    settings = c.get("/papers/for-you/settings").text
    assert "cs.CL" in settings and "language models" in settings


def test_for_you_order_of_the_daily_list(site):
    url, pf = site
    c, uid = member(site)
    ids = ids_of_day(pf)
    paper = pf.store.get(ids[-1])  # last in the list's own order
    post(c, "/papers/for-you/follow", kind="author", value=paper.authors[0])
    page = c.get("/papers?date=2025-09-29&sort=for-you").text
    assert 'aria-current="true">For you</a>' in page
    first = pf.store.get_many([int(CARD.findall(page)[0])])
    assert paper.authors[0] in next(iter(first.values())).authors  # the followed author's paper comes first
    assert pf.store.pk_of(paper.id) != pf.store.pk_of(ids[0])
    with httpx.Client(base_url=url) as anon:  # a visitor asking for it gets the list's own order, no error
        r = anon.get("/papers?date=2025-09-29&sort=for-you")
        assert r.status_code == 200 and ">For you</a>" not in r.text
        assert int(CARD.findall(r.text)[0]) == pf.store.pk_of(ids[0])
    assert c.get("/papers?date=2025-09-29&sort=nonsense").status_code == 400


def test_shown_in_a_digest_never_again_unless_asked(site):
    _, pf = site
    c, uid = member(site)
    post(c, "/papers/for-you/follow", kind="category", value="cs.CL")
    before = picks(c)
    shown = before[:2]
    signals_sql.mark_shown(pf.store, uid, [pf.store.pk_of(p) for p in shown], "digest")
    after = picks(c)
    assert not set(shown) & set(after)
    page = c.get("/papers/for-you").text
    assert "2 papers you already saw are left out" in page and "?include_seen=1" in page
    assert set(shown) <= set(picks(c, "?include_seen=1"))


def test_implicit_opens_only_when_turned_on(site):
    _, pf = site
    c, uid = member(site)
    post(c, "/papers/for-you/follow", kind="category", value="cs.CL")
    one, two = picks(c)[:2]
    assert c.get(f"/papers/{one}?from=daily").status_code == 200
    assert c.get("/papers/for-you/signals.json").json()["opened"] == []  # off by default: nothing recorded
    assert one in picks(c)
    assert "Off: opening a paper records nothing" in c.get("/papers/for-you/settings").text
    assert "?from=daily" not in c.get(f"/papers?date={LATEST}").text
    post(c, "/papers/for-you/implicit", on="1")
    assert "On: papers you open" in c.get("/papers/for-you/settings").text
    assert "?from=daily" in c.get(f"/papers?date={LATEST}").text  # the list's links now say where from
    c.get(f"/papers/{two}?from=daily")
    c.get(f"/papers/{one}")  # no ?from=: not an open from a list
    opened = c.get("/papers/for-you/signals.json").json()["opened"]
    assert [(o["paper"], o["source"]) for o in opened] == [(two, "daily")]
    assert two not in picks(c) and one in picks(c)
    post(c, "/papers/for-you/implicit", on="0")
    c.get(f"/papers/{one}?from=search")
    assert len(c.get("/papers/for-you/signals.json").json()["opened"]) == 1


def test_api_recommendations_token_and_scope(site):
    url, pf = site
    c, uid = member(site)
    post(c, "/papers/for-you/follow", kind="category", value="cs.CL")
    accounts = AccountStore(pf.store)
    tokens = {scope: f"pf_{scope}-{uid}-token" for scope in ("read", "write", "comment")}
    for scope, tok in tokens.items():
        accounts.create_token(uid, scope, tok, scope, None)
    with httpx.Client(base_url=url) as api:
        r = api.get("/api/recommendations")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer" and "detail" in r.json()
        assert api.get("/api/recommendations", headers={"Authorization": "Bearer pf_forged"}).status_code == 401
        r = api.get("/api/recommendations", headers={"Authorization": f"Bearer {tokens['comment']}"})
        assert r.status_code == 403 and "read scope" in r.json()["detail"]
        for scope in ("read", "write"):
            r = api.get("/api/recommendations?limit=5", headers={"Authorization": f"Bearer {tokens[scope]}"})
            assert r.status_code == 200, r.text
            body = r.json()
            assert len(body["picks"]) == 5 and body["signals"]["follows"] == 1
            assert all(p["reason"] == "new in cs.CL, which you follow" and "cs.CL" in p["categories"]
                       for p in body["picks"])
            assert [p["id"] for p in body["picks"]] == picks(c)[:5]
        assert api.get("/api/recommendations?limit=0",
                       headers={"Authorization": f"Bearer {tokens['read']}"}).status_code == 422
        # Cookies never authorise the API: the member's own session gets a 401.
        assert c.get("/api/recommendations").status_code == 401


def _feed_urls(c: httpx.Client) -> dict[str, str]:
    page = c.get("/papers/for-you/settings").text
    found = dict(re.findall(r'<label>(Atom|RSS) <input class="feedurl" readonly value="([^"]+)"', page))
    return {k.lower(): html.unescape(v) for k, v in found.items()}


def test_private_feed_signature_and_reset(site):
    url, pf = site
    c, uid = member(site)
    post(c, "/papers/for-you/follow", kind="category", value="cs.CL")
    urls = _feed_urls(c)
    assert set(urls) == {"atom", "rss"}
    with httpx.Client(base_url=url) as reader:  # a feed reader: no cookie
        r = reader.get(urls["atom"])
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
        root = ET.fromstring(r.content)
        ns = {"a": "http://www.w3.org/2005/Atom"}
        entries = root.findall("a:entry", ns)
        assert len(entries) == min(50, len(picks(c, "")))
        assert entries[0].find("a:summary", ns).text.startswith("new in cs.CL, which you follow\n\n")
        assert reader.get(urls["rss"]).status_code == 200
        key = parse_qs(urlparse(urls["atom"]).query)["key"][0]
        for bad in (key[:-2] + ("AA" if not key.endswith("AA") else "BB"), "x", ""):
            assert reader.get("/papers/for-you.atom", params={"key": bad}).status_code == 404
        assert reader.get("/papers/for-you.atom").status_code == 404
        # Another member's feed cannot be made by editing the signed payload.
        other, _ = member(site)
        other_key = parse_qs(urlparse(_feed_urls(other)["atom"]).query)["key"][0]
        assert other_key != key
        post(c, "/papers/for-you/feed-link")
        assert "the old one no longer works" in c.get("/papers/for-you/settings?done=reset").text
        assert reader.get(urls["atom"]).status_code == 404
        new = _feed_urls(c)["atom"]
        assert new != urls["atom"] and reader.get(new).status_code == 200
        assert reader.get("/papers/for-you.json", params={"key": key}).status_code in (400, 404, 422)


def test_download_then_delete_all_signals(site):
    url, pf = site
    c, uid = member(site)
    ids = ids_of_day(pf)
    c.post(f"/papers/{ids[0]}/upvote", data={"csrf_token": csrf(c), "next": "/papers"})
    post(c, f"/papers/{ids[1]}/save")
    post(c, f"/papers/{ids[2]}/not-interested")
    post(c, "/papers/for-you/follow", kind="author", value="Ada Lovelace")
    post(c, "/papers/for-you/implicit", on="1")
    c.get(f"/papers/{ids[3]}?from=daily")
    r = c.get("/papers/for-you/signals.json")
    assert r.headers["cache-control"] == "no-store" and "attachment" in r.headers["content-disposition"]
    data = r.json()
    assert [u["paper"] for u in data["upvotes"]] == [ids[0]]
    assert data["collections"][0]["papers"] == [ids[1]]
    assert [d["paper"] for d in data["dismissed"]] == [ids[2]]
    assert [(f["kind"], f["value"]) for f in data["follows"]] == [("author", "Ada Lovelace")]
    assert [o["paper"] for o in data["opened"]] == [ids[3]] and data["implicit_opens"] is True
    assert "from 1 upvote, 1 saved, 1 dismissed, 1 follow" in c.get("/papers/for-you").text
    r = post(c, "/papers/for-you/delete", confirm="")  # not confirmed: nothing lost
    assert r.status_code == 400 and "Nothing was deleted" in r.text
    assert c.get("/papers/for-you/signals.json").json() == data
    r = post(c, "/papers/for-you/delete", confirm="delete")
    assert r.status_code == 303
    assert "All your feed signals were deleted" in c.get(r.headers["location"]).text
    empty = c.get("/papers/for-you/signals.json").json()
    assert all(not v for v in empty.values())
    assert picks(c) == [] and 'href="/onboarding"' in c.get("/papers/for-you").text
    # Another member's signals are untouched.
    other, oid = member(site)
    post(other, "/papers/for-you/follow", kind="category", value="cs.CL")
    post(c, "/papers/for-you/delete", confirm="delete")
    assert other.get("/papers/for-you/signals.json").json()["follows"][0]["value"] == "cs.CL"


def test_forms_need_csrf_a_member_and_a_real_paper(site):
    url, pf = site
    c, uid = member(site)
    pid = ids_of_day(pf)[0]
    for path in (f"/papers/{pid}/save", f"/papers/{pid}/not-interested", "/papers/for-you/follow",
                 "/papers/for-you/delete", "/papers/for-you/feed-link"):
        assert c.post(path, data={"kind": "category", "value": "cs.CL", "confirm": "delete"}).status_code == 403
    assert c.get("/papers/for-you/signals.json").json()["follows"] == []
    assert post(c, "/papers/2599.99999/save").status_code == 404
    assert post(c, "/papers/2599.99999/not-interested").status_code == 404
    r = post(c, f"/papers/{pid}/save", next="https://evil.example/")
    assert r.status_code == 303 and r.headers["location"] == "/papers"  # never off-site
    with httpx.Client(base_url=url) as anon:
        r = anon.post(f"/papers/{pid}/save", data={"csrf_token": csrf(anon), "next": "/papers?date=2025-09-29"})
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        assert anon.get("/papers/for-you/signals.json").status_code == 303


def test_hostile_names_are_escaped_in_the_page_and_the_feed(site):
    url, pf = site
    c, uid = member(site)
    evil_author = HOSTILE["authors"][0]  # "Eve <img src=x onerror=alert(1)>"
    evil_search = "<script>alert</script> hostile"
    post(c, "/papers/for-you/follow", kind="author", value=evil_author)
    assert post(c, "/papers/for-you/follow", kind="search", value=evil_search).status_code == 303
    assert HOSTILE_ID in picks(c)
    page = c.get("/papers/for-you").text
    assert "<img src=x" not in page and "<script>alert" not in page
    assert "By Eve &lt;img src=x onerror=alert(1)&gt;, whom you follow" in page
    settings = c.get("/papers/for-you/settings").text
    assert "<script>alert" not in settings and "&lt;script&gt;alert&lt;/script&gt; hostile" in settings
    urls = _feed_urls(c)
    with httpx.Client(base_url=url) as reader:
        atom = reader.get(urls["atom"])
        ns = {"a": "http://www.w3.org/2005/Atom"}
        entry = next(e for e in ET.fromstring(atom.content).findall("a:entry", ns)
                     if e.find("a:id", ns).text.endswith(HOSTILE_ID))
        summary = entry.find("a:summary", ns)
        assert summary.get("type") == "text" and summary.text.startswith(f"by {evil_author}, whom you follow")
        rss = reader.get(urls["rss"])
        item = next(i for i in ET.fromstring(rss.content).iter("item") if i.findtext("guid").endswith(HOSTILE_ID))
        description = item.findtext("description")
        assert "<img" not in description and "by Eve &lt;img src=x onerror=alert(1)&gt;" in description
