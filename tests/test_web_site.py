"""The papers site over real HTTP: a uvicorn server on 127.0.0.1 serving 300 real papers (plus one
hostile one), hit with httpx.  Keyword index only: similar papers must work without vectors.  Every test runs on
SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import unquote

import httpx
import pytest
from conftest import HOSTILE_ID, make_site_pf
from store_backends import BACKENDS

from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread

LATEST, EARLIER = "2025-10-01", "2025-09-29"
_ENTRY = re.compile(r'<article class="paper"[^>]*>.*?<h[23] id="t-\d+"><a href="/papers/([^"]+)">', re.S)


@pytest.fixture(scope="module", params=BACKENDS)
def pf(tmp_path_factory, request):
    pf = make_site_pf(tmp_path_factory.mktemp("site"), request.param)
    yield pf
    pf.close()


@pytest.fixture(scope="module")
def client(pf):
    with serve_in_thread(create_app(pf, WebSettings(secret="test-secret", arxiv_api_url=None))) as base, \
            httpx.Client(base_url=base, timeout=60) as c:
        yield c


def listed_ids(html: str) -> list[str]:
    return [unquote(m) for m in _ENTRY.findall(html)]


def ids_on_day(pf, day: str) -> set[str]:
    from datetime import date

    from sqlalchemy import select

    from paperfeed.store.schema import papers

    with pf.store.read() as conn:
        return set(conn.execute(select(papers.c.id).where(papers.c.listed == date.fromisoformat(day))).scalars())


def test_daily_page_defaults_to_the_latest_day(client, pf):
    r = client.get("/papers")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    expected = ids_on_day(pf, LATEST)
    assert len(expected) == 13
    assert set(listed_ids(r.text)) == expected
    assert "13 papers" in r.text
    tokens = set(re.findall(r'name="csrf_token" value="([^"]*)"', r.text))  # every upvote form carries one token
    assert len(tokens) == 1 and len(tokens.pop()) > 20
    assert 'role="search"' in r.text and '<label for="q">' in r.text and "<main" in r.text
    assert client.get("/").text.count("<article") == 13


def test_previous_and_next_day_links(client, pf):
    latest = client.get("/papers").text
    assert f'rel="prev" href="/papers?date={EARLIER}"' in latest
    assert 'rel="next" href="/papers?date=' not in latest  # nothing after the newest day
    earlier = client.get(f"/papers?date={EARLIER}")
    assert earlier.status_code == 200
    assert f'rel="next" href="/papers?date={LATEST}"' in earlier.text
    first_page = listed_ids(earlier.text)
    assert len(first_page) == 20 and set(first_page) <= ids_on_day(pf, EARLIER)
    assert 'rel="next" href="/papers?date=2025-09-29&amp;p=2"' in earlier.text
    second = listed_ids(client.get(f"/papers?date={EARLIER}&p=2").text)
    assert len(second) == 20 and not set(first_page) & set(second)


def test_week_and_month_views(client):
    week = client.get("/papers?week=2025-W40")
    assert week.status_code == 200 and "301 papers" in week.text  # Mon 29 Sep .. Sun 5 Oct
    assert 'href="/papers?week=2025-W39"' in week.text and 'href="/papers?week=2025-W41"' in week.text
    month = client.get("/papers?month=2025-09")
    assert month.status_code == 200 and "288 papers" in month.text
    assert client.get("/papers?month=2025-11").status_code == 200  # an empty month is a page, not an error


def test_search_orders_results_as_the_engine_does(client, pf):
    for q in ("language models", '"reinforcement learning" agents', "graph cat:cs.LG"):
        r = client.get("/papers", params={"q": q})
        assert r.status_code == 200
        expected = [res.paper.id for res in pf.engine.search(q, limit=20)]
        assert expected and listed_ids(r.text) == expected
    page2 = client.get("/papers", params={"q": "learning", "p": 2})
    assert listed_ids(page2.text) == [res.paper.id for res in pf.engine.search("learning", limit=20, offset=20)]


def test_search_highlights_and_filters(client, pf):
    r = client.get("/papers", params={"q": "language"})
    assert "<mark>language</mark>" in r.text.lower() or "<mark>Language</mark>" in r.text
    r = client.get("/papers", params={"q": "learning", "since": LATEST, "cat": "cs.LG"})
    ids = listed_ids(r.text)
    assert ids and all(pf.store.get(i).listed.isoformat() == LATEST and "cs.LG" in pf.store.get(i).categories
                       for i in ids)
    assert 'name="since" value="2025-10-01"' in r.text


def test_paper_page_and_keyword_only_similar(client, pf):
    pid = sorted(ids_on_day(pf, EARLIER))[0]
    p = pf.store.get(pid)
    r = client.get(f"/papers/{pid}")
    assert r.status_code == 200
    assert f"https://arxiv.org/abs/{pid}" in r.text and f"https://arxiv.org/pdf/{pid}" in r.text
    assert "Similar papers" in r.text
    similar = listed_ids(r.text.split('id="similar-h"')[1])
    assert len(similar) >= 3 and pid not in similar  # no vectors: the more-like-this keyword query alone
    assert similar == [x.paper.id for x in pf.engine.similar(pid, 6)]
    assert p.authors[0].split()[0] in r.text


def test_unknown_paper_is_a_404_page(client):
    r = client.get("/papers/2999.00001")
    assert r.status_code == 404 and "<h1>Not found</h1>" in r.text
    assert client.get("/api/papers/2999.00001").json() == {"detail": "no paper with id '2999.00001'"}
    assert client.get("/api/papers/2999.00001/similar").status_code == 404
    assert client.get("/no/such/page").status_code == 404


@pytest.mark.parametrize("path", [
    "/papers?date=2025-13-01", "/papers?date=yesterday", "/papers?week=2025-W77", "/papers?month=2025-1",
    "/papers?date=2025-09-29&month=2025-09", "/papers?q=%22unclosed", "/papers?q=nope:word", "/papers?q=-only",
    "/papers?q=" + "a" * 1001, "/papers?q=" + "a%20" * 3000, "/papers?q=x&since=someday", "/papers?p=0",
    "/papers?p=abc", "/papers?p=99999999999999999999", "/papers/trending?period=year",
    "/api/papers/search?q=x&limit=0", "/api/papers/search?q=x&limit=101", "/api/papers/search?q=%22a",
    "/api/papers/search", "/api/papers/search?q=x&p=-1", "/api/daily_papers?date=2025-02-30",
    "/api/daily_papers?week=W1", "/api/daily_papers?sort=random", "/api/daily_papers?sort=trending&p=0",
    "/api/daily_papers?limit=1000",
    "/api/papers/2509.21487/similar?limit=0",
])
def test_bad_parameters_are_4xx_never_500(client, path):
    r = client.get(path)
    assert 400 <= r.status_code < 500, (path, r.status_code, r.text[:300])
    if path.startswith("/api/"):
        assert "detail" in r.json()
    else:
        assert "text/html" in r.headers["content-type"] and 'role="alert"' in r.text


def test_malformed_query_message_is_shown(client):
    r = client.get("/papers", params={"q": '"unclosed'})
    assert r.status_code == 400 and "unbalanced quote" in r.text
    r = client.get("/papers", params={"q": "x" * 1001})
    assert r.status_code == 400 and "too long" in r.text


def test_hostile_text_renders_as_text(client):
    r = client.get(f"/papers/{HOSTILE_ID}")
    assert r.status_code == 200
    assert "<script>" not in r.text and "<img" not in r.text and "<b>bold" not in r.text
    assert "&lt;script&gt;alert(" in r.text and "&lt;img src=x onerror=alert(1)&gt;" in r.text
    # LaTeX rendered (issue 10): math as MathML, \% as %; built from escaped parts (present/latex.py)
    assert "<mi>α</mi></mrow></math>-divergence" in r.text and "</math> % bounds" in r.text
    assert "&amp;amp;" in r.text and "&amp;lt;tag&amp;gt;" in r.text  # entities in the source shown literally
    for page in ("/papers", "/papers?q=hostile+alert", "/papers/trending", "/papers?week=2025-W40"):
        body = client.get(page).text
        assert "<script>" not in body and "<img" not in body, page
    assert "<mark>Hostile</mark>" in client.get("/papers?q=hostile").text
    api = client.get(f"/api/papers/{HOSTILE_ID}")  # JSON carries the text as given, typed as JSON
    assert api.headers["content-type"] == "application/json"
    assert api.json()["title"].startswith("<script>alert('title')</script>")


def test_security_headers(client):
    h = client.get("/papers").headers
    assert h["x-content-type-options"] == "nosniff" and "script-src 'self';" in h["content-security-policy"]
    assert "unsafe-inline" not in h["content-security-policy"]  # scripts only from the site's own files


def test_api_shapes(client, pf):
    s = client.get("/api/papers/search", params={"q": "language models", "limit": 5}).json()
    assert set(s) == {"query", "page", "limit", "results", "ranking", "semantic_search", "semantic_percent", "note"}
    assert len(s["results"]) == 5 and s["semantic_search"] == "partial" and "0% of papers embedded" in s["note"]
    assert [h["id"] for h in s["results"]] == [r.paper.id for r in pf.engine.search("language models", limit=5)]
    hit = s["results"][0]
    keys = {"id", "title", "abstract", "authors", "categories", "date", "links", "upvotes", "score", "match"}
    assert keys <= set(hit)
    assert hit["upvotes"] == 0 and hit["match"] in ("phrase", "all terms", "related")
    p2 = client.get("/api/papers/search", params={"q": "language models", "limit": 5, "p": 2}).json()
    assert [h["id"] for h in p2["results"]] == [r.paper.id for r in pf.engine.search("language models", 5, 5)]

    one = client.get(f"/api/papers/{hit['id']}").json()
    assert one["id"] == hit["id"] and one["abstract"] == pf.store.get(hit["id"]).abstract
    sim = client.get(f"/api/papers/{hit['id']}/similar", params={"limit": 3}).json()
    assert len(sim) == 3 and hit["id"] not in {x["id"] for x in sim}

    d = client.get("/api/daily_papers").json()
    assert d["period"] == {"kind": "day", "start": LATEST, "end": LATEST} and d["total"] == 13
    assert {x["id"] for x in d["papers"]} == ids_on_day(pf, LATEST)
    w = client.get("/api/daily_papers", params={"week": "2025-W40", "limit": 100, "p": 2}).json()
    assert w["total"] == 301 and len(w["papers"]) == 100 and w["page"] == 2
    m = client.get("/api/daily_papers", params={"month": "2025-09", "limit": 5}).json()
    assert m["period"]["start"] == "2025-09-01" and m["total"] == 288


def test_openapi_describes_the_api(client):
    spec = client.get("/openapi.json").json()
    for path in ("/api/papers/search", "/api/papers/{paper_id}", "/api/papers/{paper_id}/similar", "/api/daily_papers"):
        assert path in spec["paths"], path
    assert "PaperOut" in spec["components"]["schemas"]
    assert client.get("/docs").status_code == 200


def test_status_and_trending_fallback(client, pf):
    r = client.get("/status")
    assert r.status_code == 200 and "301" in r.text and "fresh" in r.text
    t = client.get("/papers/trending?period=day")
    assert t.status_code == 200 and "No upvotes in the past day yet" in t.text
    assert set(listed_ids(t.text)) == ids_on_day(pf, LATEST)
    assert client.get("/static/site.css").status_code == 200


def test_feeds_rss_and_atom(client, pf):
    import xml.etree.ElementTree as ET

    rss = client.get("/feeds/daily.rss")
    assert rss.status_code == 200 and rss.headers["content-type"].startswith("application/rss+xml")
    items = ET.fromstring(rss.content).findall("./channel/item")
    assert {i.findtext("link").rsplit("/papers/", 1)[1] for i in items} == ids_on_day(pf, LATEST)
    hostile = next(i for i in items if i.findtext("link").endswith(HOSTILE_ID))
    # text: HTML-escaped for RSS readers, then XML-escaped on the wire (see test_web_hardening.py)
    assert unescape(hostile.findtext("title")).startswith("<script>alert('title')")
    assert b"<script>" not in rss.content

    ns = {"a": "http://www.w3.org/2005/Atom"}
    atom = ET.fromstring(client.get("/feeds/search.atom", params={"q": "language models"}).content)
    ids = [e.findtext("a:id", namespaces=ns).rsplit("/papers/", 1)[1] for e in atom.findall("a:entry", ns)]
    assert ids == [r.paper.id for r in pf.engine.search("language models", limit=50)]
    assert client.get("/feeds/trending.atom?period=day").status_code == 200
    assert client.get("/feeds/daily.atom?week=2025-W40").status_code == 200
    page = client.get("/papers?q=language").text
    assert 'type="application/rss+xml"' in page and "/feeds/search.rss?q=language" in page
    for bad in ("/feeds/daily.xml", "/feeds/daily.rss?date=nope", "/feeds/search.rss?q=%22x", "/feeds/search.rss",
                "/feeds/trending.rss?period=year"):
        r = client.get(bad)
        assert 400 <= r.status_code < 500 and "detail" in r.json(), bad


def test_the_main_navigation_marks_the_page_you_are_on(client):
    def current(path: str) -> list[str]:
        nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', client.get(path).text, re.S).group(1)
        return re.findall(r'<a href="([^"]+)" aria-current="page">', nav)

    assert current("/papers") == ["/papers"]
    assert current("/papers/trending") == ["/papers/trending"]
    assert current("/status") == ["/status"]
    assert current("/papers?q=graph") == []  # a search is not the daily list
    assert current("/papers/2999.00001") == []  # an error page marks nothing
