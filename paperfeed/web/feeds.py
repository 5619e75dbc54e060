"""RSS 2.0 and Atom feeds of the daily list, trending and any search (a saved search is its URL).

Written by feedgen (lxml underneath), so every string is XML-escaped by construction.  That alone is not
enough for RSS: readers take an RSS `<description>` (and, when it looks like markup, a `<title>`) as HTML,
so an abstract's `<script>` or `<img onerror>`, XML-escaped once, came back to life in the reader.  RSS
text is therefore HTML-escaped first and XML-escaped by feedgen on top: what a reader renders is the
text.  Atom says what its text is (`type="text"`), so Atom carries it escaped once, as is.  XML 1.0
cannot carry control characters at all, so they are dropped from text first (a stray U+0001 in a title
would otherwise be a 500).  Absolute links use the configured base URL (`WebSettings.site_url`), never
the request's Host header.  Feeds hold at most `FEED_SIZE` papers, in the list's own order; a search feed
is cached per data version and, when it must be computed, rate-limited per client ("search_feed").
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from feedgen.feed import FeedGenerator

from paperfeed.models import Paper
from paperfeed.present.latex import to_text
from paperfeed.search.query import QueryError, parse_query
from paperfeed.urls import paper_url
from paperfeed.web.api import Bound, Day, Month, Week, error_responses, limit_costly
from paperfeed.web.context import web
from paperfeed.web.listing import Period, PeriodError, latest_day, list_period, parse_period
from paperfeed.web.pagecache import data_version
from paperfeed.web.pages import MAX_PARAM, parse_day

router = APIRouter(prefix="/feeds", tags=["feeds"], responses=error_responses(400))

FEED_SIZE = 50
Fmt = Literal["rss", "atom"]
Text = Annotated[str | None, Query(max_length=MAX_PARAM)]
MEDIA = {"rss": "application/rss+xml; charset=utf-8", "atom": "application/atom+xml; charset=utf-8"}
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(s: str) -> str:
    """`s` without the characters XML 1.0 forbids (C0 controls, U+FFFE/U+FFFF, lone surrogates)."""
    return _NOT_XML.sub("", s)


def rss_html(s: str) -> str:
    """Text as the HTML an RSS reader expects in `<description>`/`<title>`: markup in it shows as text."""
    return html.escape(xml_text(s), quote=False)


def _when(p: Paper) -> datetime:
    d = p.listed or p.published or date(1970, 1, 1)
    return datetime.combine(d, time(0, 0), tzinfo=UTC)


def render_feed(fmt: str, title: str, self_url: str, site_url: str, papers: list[Paper],
                notes: Mapping[str, str] | None = None) -> bytes:
    """The feed document: one item/entry per paper, newest-first order kept as given.  `notes` (paper id ->
    a line, e.g. the personal feed's reason) go before the abstract, escaped like it."""
    updated = max((_when(p) for p in papers), default=datetime(1970, 1, 1, tzinfo=UTC))
    fg = FeedGenerator()
    fg.id(self_url)
    fg.title(xml_text(title))
    fg.description(xml_text(title))
    fg.link(href=self_url, rel="self")
    fg.link(href=site_url, rel="alternate")  # last: feedgen's RSS <link> is the last link given
    fg.updated(updated)
    fg.lastBuildDate(updated)
    fg.generator("paperfeed")
    rss = fmt == "rss"
    for p in papers:
        url = paper_url(site_url, p.id)
        fe = fg.add_entry(order="append")
        fe.id(url)
        fe.guid(url, permalink=True)
        # LaTeX as Unicode text (present/latex.py); RSS readers render HTML, so RSS gets HTML whose text it is
        fe.title(rss_html(to_text(p.title)) if rss else xml_text(to_text(p.title)))
        fe.link(href=url)
        note = (notes or {}).get(p.id)
        text = f"{note}\n\n{to_text(p.abstract)}" if note else to_text(p.abstract)
        if rss:
            fe.description(rss_html(text))
        else:
            fe.summary(xml_text(text), type="text")
        fe.published(_when(p))
        fe.updated(_when(p))
        for name in p.authors[:20] or ["unknown"]:  # Atom needs an author; RSS wants an email, so has none
            fe.author(name=xml_text(name))
        for c in p.categories:
            fe.category(term=xml_text(c))
    return fg.rss_str() if fmt == "rss" else fg.atom_str()


def _urls(request: Request) -> tuple[str, str]:
    """(this feed's absolute URL, the site's), both under the configured base URL."""
    site = web(request).settings.site_url()
    query = request.url.query
    return site + request.url.path + (f"?{query}" if query else ""), site + "/"


def _respond(request: Request, fmt: str, title: str, papers: list[Paper]) -> Response:
    self_url, site_url = _urls(request)
    return Response(render_feed(fmt, title, self_url, site_url, papers), media_type=MEDIA[fmt])


@router.get("/daily.{fmt}", summary="Feed of the daily list (or a week's / month's)",
            response_class=Response, responses={200: {"content": {MEDIA["rss"]: {}, MEDIA["atom"]: {}}}})
def daily_feed(request: Request, fmt: Fmt, date: Day = None, week: Week = None, month: Month = None) -> Response:
    w = web(request)
    try:
        period = parse_period(date, week, month, latest_day(w.pf.store))
    except PeriodError as e:
        raise HTTPException(400, str(e)) from None
    items, _ = list_period(w.pf.store, period, FEED_SIZE, 0)
    return _respond(request, fmt, f"paperfeed: {period.label}", [p for _, p in items])


@router.get("/trending.{fmt}", summary="Feed of trending papers", response_class=Response)
def trending_feed(request: Request, fmt: Fmt, period: Literal["day", "week", "month"] = "week") -> Response:
    w = web(request)
    pks, total = w.trending(period, FEED_SIZE, 0)
    if total:
        found = w.pf.store.get_many(pks)
        papers = [found[pk] for pk in pks if pk in found]
    else:
        day = latest_day(w.pf.store)
        papers = [p for _, p in list_period(w.pf.store, Period("day", day, day), FEED_SIZE, 0)[0]]
    return _respond(request, fmt, f"paperfeed: trending this {period}", papers)


@router.get("/search.{fmt}", summary="Feed of a search: subscribe to a saved query", response_class=Response,
            responses=error_responses(400, 429))
def search_feed(request: Request, fmt: Fmt, q: Annotated[str, Query(min_length=1, max_length=MAX_PARAM)],
                since: Bound = None, until: Bound = None, cat: Text = None) -> Response:
    w = web(request)
    try:
        uq = parse_query(q, since=parse_day(since, "since"), until=parse_day(until, "until"),
                         categories=[cat] if cat else None)
    except QueryError as e:
        raise HTTPException(400, f"bad query: {e}") from None
    self_url, site_url = _urls(request)
    key = ("search-feed", fmt, repr(uq), q, self_url, *data_version(w.pf.store))
    body = w.api_bodies.peek(key)
    if body is None:
        limit_costly(request, "search_feed")
        body = w.api_bodies.get_or_render(key, lambda: render_feed(
            fmt, f"paperfeed: {q}", self_url, site_url, [r.paper for r in w.search(uq, limit=FEED_SIZE)]))
    return Response(body, media_type=MEDIA[fmt])
