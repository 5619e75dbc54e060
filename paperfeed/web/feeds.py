"""RSS 2.0 and Atom feeds of the daily list, trending and any search (a saved search is its URL).

Built with ElementTree, so every title and abstract is XML-escaped by construction; a feed
reader shows `<script>` in an abstract as text.  Feeds hold at most `FEED_SIZE` papers.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, time
from email.utils import format_datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from paperfeed.models import Paper
from paperfeed.search.query import QueryError, parse_query
from paperfeed.web.api import Bound, Day, Month, Week, error_responses
from paperfeed.web.context import paper_url, web
from paperfeed.web.listing import Period, PeriodError, latest_day, list_period, parse_period
from paperfeed.web.pages import MAX_PARAM, parse_day

router = APIRouter(prefix="/feeds", tags=["feeds"], responses=error_responses(400))

FEED_SIZE = 50
Fmt = Literal["rss", "atom"]
Text = Annotated[str | None, Query(max_length=MAX_PARAM)]
ATOM_NS = "http://www.w3.org/2005/Atom"
MEDIA = {"rss": "application/rss+xml; charset=utf-8", "atom": "application/atom+xml; charset=utf-8"}


def _when(p: Paper) -> datetime:
    d = p.listed or p.published or date(1970, 1, 1)
    return datetime.combine(d, time(0, 0), tzinfo=UTC)


def render_feed(fmt: str, title: str, self_url: str, site_url: str, papers: list[Paper]) -> bytes:
    """The feed document: one item/entry per paper, newest-first order kept as given."""
    updated = max((_when(p) for p in papers), default=datetime(1970, 1, 1, tzinfo=UTC))
    if fmt == "rss":
        rss = ET.Element("rss", version="2.0")
        ch = ET.SubElement(rss, "channel")
        ET.SubElement(ch, "title").text = title
        ET.SubElement(ch, "link").text = site_url
        ET.SubElement(ch, "description").text = title
        ET.SubElement(ch, "lastBuildDate").text = format_datetime(updated)
        for p in papers:
            it = ET.SubElement(ch, "item")
            url = site_url.rstrip("/") + paper_url(p.id)
            ET.SubElement(it, "title").text = p.title
            ET.SubElement(it, "link").text = url
            ET.SubElement(it, "guid", isPermaLink="true").text = url
            ET.SubElement(it, "description").text = p.abstract
            ET.SubElement(it, "pubDate").text = format_datetime(_when(p))
            for c in p.categories:
                ET.SubElement(it, "category").text = c
        return ET.tostring(rss, encoding="utf-8", xml_declaration=True)
    ET.register_namespace("", ATOM_NS)
    a = f"{{{ATOM_NS}}}"
    feed = ET.Element(a + "feed")
    ET.SubElement(feed, a + "title").text = title
    ET.SubElement(feed, a + "id").text = self_url
    ET.SubElement(feed, a + "link", rel="self", href=self_url)
    ET.SubElement(feed, a + "link", rel="alternate", href=site_url)
    ET.SubElement(feed, a + "updated").text = updated.isoformat()
    for p in papers:
        e = ET.SubElement(feed, a + "entry")
        url = site_url.rstrip("/") + paper_url(p.id)
        ET.SubElement(e, a + "title").text = p.title
        ET.SubElement(e, a + "id").text = url
        ET.SubElement(e, a + "link", href=url)
        ET.SubElement(e, a + "updated").text = _when(p).isoformat()
        for name in p.authors[:20]:
            ET.SubElement(ET.SubElement(e, a + "author"), a + "name").text = name
        if not p.authors:
            ET.SubElement(ET.SubElement(e, a + "author"), a + "name").text = "unknown"
        ET.SubElement(e, a + "summary").text = p.abstract
        for c in p.categories:
            ET.SubElement(e, a + "category", term=c)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _respond(request: Request, fmt: str, title: str, papers: list[Paper]) -> Response:
    base = str(request.base_url)
    body = render_feed(fmt, title, str(request.url), base, papers)
    return Response(body, media_type=MEDIA[fmt])


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


@router.get("/search.{fmt}", summary="Feed of a search: subscribe to a saved query", response_class=Response)
def search_feed(request: Request, fmt: Fmt, q: Annotated[str, Query(min_length=1, max_length=MAX_PARAM)],
                since: Bound = None, until: Bound = None, cat: Text = None) -> Response:
    w = web(request)
    try:
        uq = parse_query(q, since=parse_day(since, "since"), until=parse_day(until, "until"),
                         categories=[cat] if cat else None)
    except QueryError as e:
        raise HTTPException(400, f"bad query: {e}") from None
    results = w.pf.engine.search(uq, limit=FEED_SIZE)
    return _respond(request, fmt, f"paperfeed: {q}", [r.paper for r in results])
