"""The HTML pages anyone can read: daily list, search, trending, a paper, status.

Handlers are plain `def`: search and SQLite are blocking work, which FastAPI runs in its
thread pool instead of stalling the event loop.  The listing pages (daily, trending) are `async`:
a page-cache hit costs two indexed SQLite reads (well under a millisecond), cheaper on the event loop
than a hop to the thread pool; a miss renders in the thread pool (see `render_shared`).
"""

from __future__ import annotations

import time
from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from paperfeed.search.derived import IndexUnavailable
from paperfeed.search.query import QueryError, _parse_date, parse_query
from paperfeed.web import status
from paperfeed.web.context import current_user, error_page, render, render_shared, web
from paperfeed.web.highlight import highlight, terms_pattern
from paperfeed.web.listing import Period, PeriodError, latest_day, list_period, neighbour_days, parse_period

router = APIRouter()

MAX_PAGE = 500
MAX_PARAM = 1100  # a little over the query language's own limit, so its message is the one shown

Text = Annotated[str | None, Query(max_length=MAX_PARAM)]
PageNo = Annotated[int, Query(ge=1, le=MAX_PAGE)]


def parse_day(value: str | None, what: str) -> date | None:
    """A since/until form field (YYYY-MM-DD, YYYY-MM or YYYY); empty means no bound."""
    if not value or not value.strip():
        return None
    return _parse_date(value.strip(), what)


def _page_links(base: dict[str, str], p: int, has_next: bool) -> tuple[str | None, str | None]:
    def link(n: int) -> str:
        return "/papers?" + urlencode({**base, "p": str(n)} if n > 1 else base)

    return (link(p - 1) if p > 1 else None), (link(p + 1) if has_next else None)


@router.get("/", include_in_schema=False)
async def home(request: Request) -> HTMLResponse:
    return await daily(request)


@router.get("/papers", response_class=HTMLResponse, summary="Daily papers, or search results with ?q=")
async def papers_page(request: Request, q: Text = None, date: Text = None, week: Text = None, month: Text = None,
                since: Text = None, until: Text = None, cat: Text = None, p: PageNo = 1) -> HTMLResponse:
    if q is not None and q.strip():
        return await run_in_threadpool(search_page, request, q, since, until, cat, p)
    return await daily(request, date, week, month, p)


async def daily(request: Request, day: str | None = None, week: str | None = None, month: str | None = None,
          p: int = 1) -> HTMLResponse:
    w = web(request)
    try:
        period = parse_period(day, week, month, latest_day(w.pf.store))
    except PeriodError as e:
        return error_page(request, 400, str(e))

    def build() -> tuple[str, dict]:
        size = w.settings.page_size
        items, total = list_period(w.pf.store, period, size, (p - 1) * size)
        if period.kind == "day":
            prev_day, next_day = neighbour_days(w.pf.store, period.start)
            prev = Period("day", prev_day, prev_day) if prev_day else None
            nxt = Period("day", next_day, next_day) if next_day else None
        else:
            prev, nxt = period.shifted(-1), period.shifted(1)
        key, value = period.param
        prev_page, next_page = _page_links({key: value}, p, p * size < total)
        return "daily.html", dict(
            period=period, entries=w.entries(items, current_user(request)), total=total, prev=prev, next=nxt,
            prev_page=prev_page, next_page=next_page, week_of=Period("week", period.start, period.start).param[1],
            month_of=f"{period.start:%Y-%m}", title=f"{period.label} · paperfeed",
            feed=("daily", urlencode({key: value})))

    return await render_shared(request, ("daily", request.url.path, request.url.query, period, p), build)


def search_page(request: Request, q: str, since: str | None, until: str | None, cat: str | None,
                p: int) -> HTMLResponse:
    w = web(request)
    size = w.settings.page_size
    try:
        uq = parse_query(q, since=parse_day(since, "since"), until=parse_day(until, "until"),
                         categories=[cat] if cat and cat.strip() else None)
    except QueryError as e:
        return error_page(request, 400, f"Bad query: {e}")
    results = w.search(uq, limit=size + 1, offset=(p - 1) * size)
    info = getattr(results, "info", None)  # how it was ranked: the page says so while coverage is partial
    has_next = len(results) > size
    results = results[:size]
    entries = w.entries([(r.pk, r.paper) for r in results], current_user(request))
    for e, r in zip(entries, results, strict=True):
        e.score, e.block = r.score, r.block
    pattern = terms_pattern(uq)
    base = {k: v for k, v in (("q", q), ("since", since), ("until", until), ("cat", cat)) if v}
    prev_page, next_page = _page_links(base, p, has_next)
    return render(request, "search.html", q=q, since=since or "", until=until or "", cat=cat or "",
                  entries=entries, hl=lambda text: highlight(text, pattern), page=p,
                  prev_page=prev_page, next_page=next_page, title=f"{q} · search · paperfeed",
                  coverage_note=info.note if info else None,
                  feed=("search", urlencode(base)))


@router.get("/papers/trending", response_class=HTMLResponse, summary="Trending papers")
async def trending_page(request: Request, period: Text = "week", p: PageNo = 1) -> HTMLResponse:
    w = web(request)
    if period not in ("day", "week", "month"):
        return error_page(request, 400, "period must be day, week or month")

    def build() -> tuple[str, dict]:
        size = w.settings.page_size
        pks, total = w.trending(period, size, (p - 1) * size)
        if total:
            papers = w.pf.store.get_many(pks)
            items = [(pk, papers[pk]) for pk in pks if pk in papers]
            fallback = False
        else:  # nobody voted in this period: say so and show the newest papers
            day = latest_day(w.pf.store)
            items, total = list_period(w.pf.store, Period("day", day, day), size, (p - 1) * size)
            fallback = True
        prev_page = f"/papers/trending?period={period}&p={p - 1}" if p > 1 else None
        next_page = f"/papers/trending?period={period}&p={p + 1}" if p * size < total else None
        return "trending.html", dict(
            period=period, entries=w.entries(items, current_user(request)), fallback=fallback,
            prev_page=prev_page, next_page=next_page, title="Trending · paperfeed",
            feed=("trending", urlencode({"period": period})))

    # Scores decay with time, so the ranking is also keyed by the minute.
    minute = int(time.time() // 60)
    return await render_shared(request, ("trending", request.url.path, request.url.query, period, p, minute), build)


class _NoSuchPaper(LookupError):
    pass


@router.get("/papers/{paper_id:path}", response_class=HTMLResponse, summary="One paper")
async def paper_page(request: Request, paper_id: str) -> HTMLResponse:
    w = web(request)

    def build() -> tuple[str, dict]:
        paper = w.pf.store.get(paper_id) if len(paper_id) <= 256 else None
        pk = w.pf.store.pk_of(paper.id) if paper else None
        if paper is None or pk is None:
            raise _NoSuchPaper
        user = current_user(request)
        entry = w.entries([(pk, paper)], user)[0]
        try:
            similar = w.similar(paper.id, 6)
        except (KeyError, IndexUnavailable):  # both indexes rebuilding: the page still answers
            similar = []
        info = getattr(similar, "info", None)
        return "paper.html", dict(item=entry, paper=paper, similar=w.entries([(r.pk, r.paper) for r in similar], user),
                                  coverage_note=info.note if info else None,
                                  title=f"{paper.title} · paperfeed")

    try:
        return await render_shared(request, ("paper", request.url.path, *w.pf.engine.index_version()), build,
                                   w.paper_pages)
    except _NoSuchPaper:
        return error_page(request, 404, f"No paper with id {paper_id[:100]!r}.")


router.include_router(status.router)  # /status and /api/status (status.py), without touching app.py
