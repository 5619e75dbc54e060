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

from paperfeed.models import Paper
from paperfeed.present.bibtex import paper_bibtex
from paperfeed.present.latex import to_text
from paperfeed.search.derived import IndexUnavailable
from paperfeed.search.query import QueryError, _parse_date, parse_query
from paperfeed.store import signals as signals_sql
from paperfeed.web import authors, status
from paperfeed.web.comments import thread_context  # comments.py imports no router: no cycle
from paperfeed.web.context import WebState, current_user, error_page, render, render_shared, web
from paperfeed.web.highlight import terms_pattern
from paperfeed.web.listing import (
    Period,
    PeriodError,
    latest_day,
    list_period,
    neighbour_days,
    parse_period,
    period_pks,
)

router = APIRouter()

MAX_PAGE = 500
MAX_PARAM = 1100  # a little over the query language's own limit, so its message is the one shown

Text = Annotated[str | None, Query(max_length=MAX_PARAM)]
PageNo = Annotated[int, Query(ge=1, le=MAX_PAGE)]
# The daily list's orders (Hugging Face Papers shows a day by upvotes); the API's `sort=` takes the same.
DAILY_SORTS = {"upvotes": "Most upvoted", "trending": "Trending", "newest": "Newest"}
MEMBER_SORTS = {**DAILY_SORTS, "for-you": "For you"}  # the daily list's orders for a logged-in member
OPEN_SOURCES = ("daily", "search", "similar", "foryou", "digest")  # `?from=` on a paper link: an implicit open
SEARCH_SORTS = {"relevance": "Relevance", "newest": "Newest", "upvotes": "Most upvoted"}
# "Newest" and "most upvoted" reorder this many of the most relevant results (a query matches far more
# papers than anyone reads; re-sorting all of them would put barely related new papers first).
SORT_POOL = 200


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


def sorted_period(w: WebState, period: Period, sort: str, limit: int,
                  offset: int, user_id: int | None = None) -> tuple[list[tuple[int, Paper]], int]:
    """One page of a period's papers in the chosen order, and how many it has.  Upvotes: most first, ties
    in the list's own order (newest listing first); trending: time-decayed votes (ranking/trending.py);
    for you: the member's picks first (recommend/, `FeedService.order`), the list's order for anyone else."""
    if sort == "newest" or (sort == "for-you" and user_id is None):
        return list_period(w.pf.store, period, limit, offset)
    pks = period_pks(w.pf.store, period)
    if sort == "for-you" and user_id is not None:
        order = w.feed.order(user_id, pks)
    elif sort == "trending":
        order = w.by_trending(pks)
    else:
        counts = w.community.vote_counts(pks)
        order = sorted(pks, key=lambda pk: -counts.get(pk, 0))  # stable: ties keep the list's order
    page = order[offset : offset + limit]
    found = w.pf.store.get_many(page)
    return [(pk, found[pk]) for pk in page if pk in found], len(order)


def landing_url(w: WebState, day: date, pk: int, sort: str = "upvotes") -> str:
    """Where a paper submitted to `day` shows on the day's list: its page of the list and its card's anchor."""
    period = Period("day", day, day)
    pks = period_pks(w.pf.store, period)
    if sort == "upvotes":
        counts = w.community.vote_counts(pks)
        pks = sorted(pks, key=lambda x: -counts.get(x, 0))
    p = pks.index(pk) // w.settings.page_size + 1 if pk in pks else 1
    query = {"date": day.isoformat(), **({"p": str(p)} if p > 1 else {}), "submitted": str(pk)}
    return f"/papers?{urlencode(query)}#p-{pk}"


@router.get("/papers", response_class=HTMLResponse, summary="Daily papers, or search results with ?q=")
async def papers_page(request: Request, q: Text = None, date: Text = None, week: Text = None, month: Text = None,
                      since: Text = None, until: Text = None, cat: Text = None, p: PageNo = 1,
                      sort: Text = None,
                      submitted: Annotated[int | None, Query(ge=1, le=2**62)] = None) -> HTMLResponse:
    if q is not None and q.strip():
        return await run_in_threadpool(search_page, request, q, since, until, cat, p, sort or "relevance")
    return await daily(request, date, week, month, p, sort or "upvotes", submitted)


async def daily(request: Request, day: str | None = None, week: str | None = None, month: str | None = None,
                p: int = 1, sort: str = "upvotes", submitted: int | None = None) -> HTMLResponse:
    w = web(request)
    if sort not in MEMBER_SORTS:
        return error_page(request, 400, f"sort must be one of {', '.join(MEMBER_SORTS)}")
    try:
        period = parse_period(day, week, month, latest_day(w.pf.store))
    except PeriodError as e:
        return error_page(request, 400, str(e))

    def build() -> tuple[str, dict]:
        size = w.settings.page_size
        member = current_user(request)
        items, total = sorted_period(w, period, sort, size, (p - 1) * size, member.id if member else None)
        if period.kind == "day":
            prev_day, next_day = neighbour_days(w.pf.store, period.start)
            prev = Period("day", prev_day, prev_day) if prev_day else None
            nxt = Period("day", next_day, next_day) if next_day else None
        else:
            prev, nxt = period.shifted(-1), period.shifted(1)
        key, value = period.param
        keep = {key: value, **({"sort": sort} if sort != "upvotes" else {})}
        prev_page, next_page = _page_links(keep, p, p * size < total)
        entries = w.entries(items, current_user(request))
        landed = next((e for e in entries if e.pk == submitted), None)
        return "daily.html", dict(
            period=period, entries=entries, total=total, prev=prev, next=nxt, sort=sort,
            sorts=MEMBER_SORTS if member else DAILY_SORTS,
            sort_suffix="" if sort == "upvotes" else f"&sort={sort}", landed=landed,
            prev_page=prev_page, next_page=next_page, week_of=Period("week", period.start, period.start).param[1],
            month_of=f"{period.start:%Y-%m}", title=f"{period.label} · paperfeed",
            feed=("daily", urlencode({key: value})))

    return await render_shared(request, ("daily", request.url.path, request.url.query, period, p, sort), build)


def search_page(request: Request, q: str, since: str | None, until: str | None, cat: str | None,
                p: int, sort: str = "relevance") -> HTMLResponse:
    w = web(request)
    size = w.settings.page_size
    if sort not in SEARCH_SORTS:
        return error_page(request, 400, f"sort must be one of {', '.join(SEARCH_SORTS)}")
    try:
        uq = parse_query(q, since=parse_day(since, "since"), until=parse_day(until, "until"),
                         categories=[cat] if cat and cat.strip() else None)
    except QueryError as e:
        return error_page(request, 400, f"Bad query: {e}")
    if sort == "relevance":
        results = w.search(uq, limit=size + 1, offset=(p - 1) * size)
        info = getattr(results, "info", None)  # how it was ranked: the page says so while coverage is partial
    else:  # the most relevant SORT_POOL, reordered
        pool = w.search(uq, limit=SORT_POOL)
        info = getattr(pool, "info", None)
        if sort == "newest":
            pool.sort(key=lambda r: (r.paper.listed or r.paper.published or date.min), reverse=True)
        else:
            counts = w.community.vote_counts([r.pk for r in pool])
            pool.sort(key=lambda r: -counts.get(r.pk, 0))
        results = pool[(p - 1) * size : p * size + 1]
    has_next = len(results) > size
    results = results[:size]
    entries = w.entries([(r.pk, r.paper) for r in results], current_user(request))
    for e, r in zip(entries, results, strict=True):
        e.score, e.block = r.score, (r.block if sort == "relevance" else None)
    base = {k: v for k, v in (("q", q), ("since", since), ("until", until), ("cat", cat)) if v}
    sorted_base = {**base, **({"sort": sort} if sort != "relevance" else {})}
    prev_page, next_page = _page_links(sorted_base, p, has_next)
    return render(request, "search.html", q=q, since=since or "", until=until or "", cat=cat or "",
                  entries=entries, pattern=terms_pattern(uq), page=p, total=w.search_count(uq), sort=sort,
                  sorts=SEARCH_SORTS, sort_links={k: "/papers?" + urlencode({**base, **({"sort": k} if k !=
                                                                                     "relevance" else {})})
                                                  for k in SEARCH_SORTS},
                  pool=SORT_POOL, has_text=uq.has_text,
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
        source = request.query_params.get("from")
        if user is not None and source in OPEN_SOURCES:  # recorded only when the member turned it on
            signals_sql.record_open(w.pf.store, user.id, pk, source)
        entry = w.entries([(pk, paper)], user)[0]
        try:
            similar = w.similar(paper.id, 6)
        except (KeyError, IndexUnavailable):  # both indexes rebuilding: the page still answers
            similar = []
        info = getattr(similar, "info", None)
        from paperfeed.web.claims import claim_context
        from paperfeed.web.collections import collect_context

        return "paper.html", dict(item=entry, paper=paper, similar=w.entries([(r.pk, r.paper) for r in similar], user),
                                  bibtex=paper_bibtex(paper), coverage_note=info.note if info else None,
                                  title=f"{to_text(paper.title)} · paperfeed",
                                  **thread_context(w, pk, paper.id, user), **claim_context(w, pk, user),
                                  **collect_context(w, pk, user))

    try:
        return await render_shared(request, ("paper", request.url.path, *w.pf.engine.index_version()), build,
                                   w.paper_pages)
    except _NoSuchPaper:
        return error_page(request, 404, f"No paper with id {paper_id[:100]!r}.")


router.include_router(status.router)  # /status and /api/status (status.py), without touching app.py
router.include_router(authors.router)  # /authors/{name} (authors.py)
