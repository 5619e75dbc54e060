"""The feeds (RSS 2.0 and Atom, built by feedgen) over real HTTP: structure, dates, ids and links as the
formats require, the list's order kept, and hostile text (`<script>`, entities, LaTeX, control characters)
carried as text.  The basic feed checks live in test_web_site.py; these go further."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from datetime import date, datetime
from email.utils import parsedate_to_datetime

import httpx
import pytest
from conftest import HOSTILE, HOSTILE_ID, make_site_pf

from paperfeed.models import Paper
from paperfeed.web import WebSettings, create_app
from paperfeed.web.feeds import render_feed
from paperfeed.web.listing import Period, list_period
from paperfeed.web.testing import serve_in_thread

NS = {"a": "http://www.w3.org/2005/Atom"}
LATEST = "2025-10-01"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pf = make_site_pf(tmp_path_factory.mktemp("feeds"))
    settings = WebSettings(secret="feeds-secret", arxiv_api_url=None)
    with serve_in_thread(create_app(pf, settings)) as base:
        settings.base_url = base  # feeds link under the configured base URL; the port is known only now
        yield base, pf
    pf.close()


def test_rss_structure_dates_and_order(site):
    base, pf = site
    r = httpx.get(f"{base}/feeds/daily.rss", params={"week": "2025-W40"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/rss+xml; charset=utf-8"
    rss = ET.fromstring(r.content)
    assert rss.tag == "rss" and rss.get("version") == "2.0"
    ch = rss.find("channel")
    assert ch.findtext("title").startswith("paperfeed: Week 2025-W40") and ch.findtext("link") == f"{base}/"
    assert ch.find("a:link[@rel='self']", NS).get("href") == f"{base}/feeds/daily.rss?week=2025-W40"
    items = ch.findall("item")
    assert len(items) == 50  # FEED_SIZE of the week's 301
    week = Period("week", date(2025, 9, 29), date(2025, 10, 5))
    listed = list_period(pf.store, week, 50, 0)[0]
    assert [i.findtext("guid") for i in items] == [f"{base}/papers/{p.id}" for _, p in listed]
    for i in items:
        assert i.find("guid").get("isPermaLink") == "true" and i.findtext("link") == i.findtext("guid")
        assert parsedate_to_datetime(i.findtext("pubDate")).tzinfo is not None  # RFC 822 date with a zone
        assert i.findtext("title") and i.findtext("description") is not None and i.findall("category")
    newest = max(parsedate_to_datetime(i.findtext("pubDate")) for i in items)
    assert parsedate_to_datetime(ch.findtext("lastBuildDate")) == newest


def test_atom_structure_ids_and_dates(site):
    base, pf = site
    r = httpx.get(f"{base}/feeds/search.atom", params={"q": "language models"})
    assert r.headers["content-type"] == "application/atom+xml; charset=utf-8"
    feed = ET.fromstring(r.content)
    assert feed.tag == "{http://www.w3.org/2005/Atom}feed"
    assert feed.findtext("a:id", namespaces=NS) == str(r.url) == feed.find("a:link[@rel='self']", NS).get("href")
    assert feed.find("a:link[@rel='alternate']", NS).get("href") == f"{base}/"
    datetime.fromisoformat(feed.findtext("a:updated", namespaces=NS))
    entries = feed.findall("a:entry", NS)
    assert [e.findtext("a:id", namespaces=NS) for e in entries] == \
        [f"{base}/papers/{x.paper.id}" for x in pf.engine.search("language models", limit=50)]
    for e in entries:  # what RFC 4287 requires of an entry (no feed-level author, so each has one)
        assert e.findtext("a:title", namespaces=NS) and e.find("a:author/a:name", NS).text
        assert datetime.fromisoformat(e.findtext("a:updated", namespaces=NS)).tzinfo is not None
        assert e.find("a:link", NS).get("href") == e.findtext("a:id", namespaces=NS)
        assert e.find("a:summary", NS) is not None


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_hostile_text_round_trips_as_text(site, fmt):
    base, _ = site
    r = httpx.get(f"{base}/feeds/daily.{fmt}", params={"date": LATEST})
    assert b"<script>" not in r.content and b"<img" not in r.content and b"<b>" not in r.content
    doc = ET.fromstring(r.content)
    if fmt == "rss":
        item = next(i for i in doc.iter("item") if i.findtext("link").endswith(HOSTILE_ID))
        # RSS readers take these as HTML: they carry the text HTML-escaped (test_web_hardening parses it so)
        title, abstract = html.unescape(item.findtext("title")), html.unescape(item.findtext("description"))
    else:
        item = next(e for e in doc.iterfind("a:entry", NS) if e.findtext("a:id", namespaces=NS).endswith(HOSTILE_ID))
        title, abstract = item.findtext("a:title", namespaces=NS), item.findtext("a:summary", namespaces=NS)
        assert item.find("a:author/a:name", NS).text == HOSTILE["authors"][0]
    # `<script>`, `&amp;`: as given; LaTeX as Unicode text (present/latex.py)
    assert title == HOSTILE["title"].replace("$\\alpha$", "α")
    assert abstract == HOSTILE["abstract"].replace("$O(n^2)$ \\%", "O(n²) %")


def test_control_characters_and_odd_unicode_never_break_the_xml(site):
    base, _ = site
    for q in ("a\x01b", "x\ufffey", "\U0001d4b3 models"):
        for fmt in ("rss", "atom"):
            r = httpx.get(f"{base}/feeds/search.{fmt}", params={"q": q})
            assert r.status_code in (200, 400), (q, r.status_code)
            if r.status_code == 200:
                ET.fromstring(r.content)
    hostile = Paper("2501.00001", "Nul\x00 and \x1b[31mescape", "bell\x07 \ud800 \ufffe end", ["A\x0b B"], ["cs.AI"])
    for fmt in ("rss", "atom"):
        doc = ET.fromstring(render_feed(fmt, "t\x01", "http://h/f", "http://h/", [hostile]))
        text = "".join(doc.itertext())
        assert "Nul and [31mescape" in text and "bell   end" in text and ("A B" in text or fmt == "rss")
