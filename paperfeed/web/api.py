"""The JSON API: search, a paper, similar papers, the daily list.

Response models are Pydantic, so `/docs` describes exactly what is sent.  Every parameter is
validated (4xx with `{"detail": ...}`); a malformed query or period is a 400 with the message
a person needs to fix it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, RootModel

from paperfeed.models import Paper
from paperfeed.present.bibtex import paper_bibtex
from paperfeed.search.query import QueryError, parse_query
from paperfeed.urls import safe_links
from paperfeed.web.context import Entry, cached_json, client_key, current_user, web
from paperfeed.web.listing import PeriodError, latest_day, parse_period
from paperfeed.web.pages import MAX_PARAM, parse_day, sorted_period

router = APIRouter(prefix="/api", tags=["api"])

Limit = Annotated[int, Query(ge=1, le=100)]
PageNo = Annotated[int, Query(ge=1, le=500)]
Text = Annotated[str | None, Query(max_length=MAX_PARAM)]
# The formats in the schema (empty = not given), so clients and the fuzz test know them; a well-formed
# but impossible value (2025-02-30, 2025-W60) is a 400 with a message.
Day = Annotated[str | None, Query(pattern=r"^(\d{4}-\d{2}-\d{2})?$", description="a day: YYYY-MM-DD")]
Week = Annotated[str | None, Query(pattern=r"^(\d{4}-W\d{2})?$", description="an ISO week: YYYY-Www")]
Month = Annotated[str | None, Query(pattern=r"^(\d{4}-\d{2})?$", description="a month: YYYY-MM")]
Bound = Annotated[str | None, Query(pattern=r"^(\d{4}(-\d{2}(-\d{2})?)?)?$",
                                    description="a date bound: YYYY-MM-DD, YYYY-MM or YYYY")]


class ErrorOut(BaseModel):
    """The body of every error but 422 (FastAPI's own validation error shape)."""

    detail: str


_WHY = {400: "Malformed request: a query, date, week, month or body (the message says what to fix)",
        401: "No valid API token (Authorization: Bearer pf_…), or it expired",
        403: "The API token is read-only (this needs the write scope)", 404: "No such paper",
        409: "Already on that day's list", 429: "Too many requests; slow down"}


def limit_costly(request: Request, action: str) -> None:
    """429 (with `Retry-After`) once this client has used up its allowance of a costly read: the one
    gate of similar papers, API searches and search feeds, called only when the answer is not cached.
    The rate limiter is reached through its public `allow(action, client)` alone."""
    w = web(request)
    if not w.limiter.allow(action, client_key(request)):
        rate = w.settings.rate_limits.get(action, (1, 1.0))[1]
        wait = max(1, round(1 / rate)) if rate > 0 else 60
        raise HTTPException(429, "too many requests; slow down", headers={"Retry-After": str(wait)})


def error_responses(*codes: int) -> dict[int | str, dict]:
    """OpenAPI `responses=` for the 4xx an endpoint can answer, so clients (and the fuzz test) know them."""
    return {code: {"model": ErrorOut, "description": _WHY[code]} for code in codes}


class PaperOut(BaseModel):
    id: str
    title: str
    abstract: str
    authors: list[str]
    categories: list[str]
    date: dt.date | None  # listing day, else publication day
    published: dt.date | None
    updated: dt.date | None
    arxiv_id: str | None
    doi: str | None
    links: dict[str, str]
    comment: str | None
    upvotes: int
    submitted_by: str | None = None
    comments: int = 0  # live comments in its discussion (/api/papers/{id}/comments)


class SearchHit(PaperOut):
    score: float
    match: str  # "phrase" | "all terms" | "related" | "newest"


class SearchOut(BaseModel):
    query: str
    page: int
    limit: int
    results: list[SearchHit]
    ranking: str = "hybrid"  # hybrid (fused) | keyword (semantic coverage partial) | semantic | newest
    semantic_search: str = "complete"  # complete | partial | rebuilding | off
    semantic_percent: float | None = None  # papers with a vector, of all papers
    note: str | None = None  # the line the search page shows while coverage is partial


class PeriodOut(BaseModel):
    kind: Literal["day", "week", "month"]
    start: dt.date
    end: dt.date


class DailyOut(BaseModel):
    period: PeriodOut
    sort: str
    page: int
    limit: int
    total: int
    papers: list[PaperOut]


def paper_out(p: Paper, e: Entry) -> dict:
    return {
        "id": p.id, "title": p.title, "abstract": p.abstract, "authors": p.authors, "categories": p.categories,
        "date": p.listed or p.published, "published": p.published, "updated": p.updated,
        "arxiv_id": p.arxiv_id, "doi": p.doi, "links": safe_links(p.links), "comment": p.comment,
        "upvotes": e.votes, "submitted_by": e.submitter, "comments": e.comments,
    }


@router.get("/papers/search", response_model=SearchOut, summary="Search papers (same ranking as the CLI)",
            responses=error_responses(400, 429))
async def api_search(request: Request, q: Annotated[str, Query(min_length=1, max_length=MAX_PARAM)],
                     limit: Limit = 20, p: PageNo = 1, since: Bound = None, until: Bound = None,
                     cat: Text = None) -> Response:
    w = web(request)
    try:
        uq = parse_query(q, since=parse_day(since, "since"), until=parse_day(until, "until"),
                         categories=[cat] if cat else None)
    except QueryError as e:
        raise HTTPException(400, f"bad query: {e}") from None

    def build() -> SearchOut:
        results = w.search(uq, limit=limit, offset=(p - 1) * limit)
        entries = w.entries([(r.pk, r.paper) for r in results], None)
        hits = [paper_out(r.paper, e) | {"score": round(r.score, 6), "match": r.block}
                for r, e in zip(results, entries, strict=True)]
        info = results.info
        return SearchOut.model_validate({"query": q, "page": p, "limit": limit, "results": hits,
                                         "ranking": info.ranking, "semantic_search": info.semantic,
                                         "semantic_percent": info.semantic_percent, "note": info.note})

    return await cached_json(request, ("search", q, repr(uq), limit, p, *w.pf.engine.index_version()), build,
                             on_miss=lambda: limit_costly(request, "search"))


class PaperList(RootModel[list[PaperOut]]):
    pass


@router.get("/papers/{paper_id:path}/similar", response_model=list[PaperOut], summary="Papers like this one",
            responses=error_responses(404, 429))
async def api_similar(request: Request, paper_id: str,
                      limit: Annotated[int, Query(ge=1, le=50)] = 10) -> Response:
    """Cached per data version like search (20 anonymous connections used to hold the machine at 12 req/s);
    a computed answer counts against the client's "similar" allowance."""
    w = web(request)

    def build() -> PaperList:
        try:
            results = w.similar(paper_id, limit) if len(paper_id) <= 256 else None
        except KeyError:
            results = None
        if results is None:
            raise HTTPException(404, f"no paper with id {paper_id[:100]!r}")
        entries = w.entries([(r.pk, r.paper) for r in results], None)
        return PaperList.model_validate([paper_out(e.paper, e) for e in entries])

    # the index state is part of the key: an answer given while an index heals is not served after it
    return await cached_json(request, ("similar", paper_id, limit, *w.pf.engine.index_version()), build,
                             on_miss=lambda: limit_costly(request, "similar"))


BIBTEX_MEDIA = "application/x-bibtex; charset=utf-8"
_BIBTEX_OK: dict[int | str, dict] = {200: {"content": {BIBTEX_MEDIA: {"schema": {"type": "string"}}},
                                           "description": "The paper's BibTeX entry (present/bibtex.py)"}}


def _bibtex_response(paper: Paper) -> Response:
    return Response(paper_bibtex(paper), media_type=BIBTEX_MEDIA)


@router.get("/papers/{paper_id:path}/bibtex", summary="A paper's BibTeX entry", response_class=Response,
            responses={**_BIBTEX_OK, **error_responses(404)})
def api_bibtex(request: Request, paper_id: str) -> Response:
    paper = web(request).pf.store.get(paper_id) if len(paper_id) <= 256 else None
    if paper is None:
        raise HTTPException(404, f"no paper with id {paper_id[:100]!r}")
    return _bibtex_response(paper)


@router.get("/papers/{paper_id:path}", response_model=PaperOut, summary="One paper (`?format=bibtex`: its BibTeX)",
            responses={200: {"content": {"application/json": {}, BIBTEX_MEDIA: {"schema": {"type": "string"}}}},
                       **error_responses(404)})
def api_paper(request: Request, paper_id: str, format: Literal["json", "bibtex"] = "json") -> Any:
    w = web(request)
    paper = w.pf.store.get(paper_id) if len(paper_id) <= 256 else None
    pk = w.pf.store.pk_of(paper.id) if paper else None
    if paper is None or pk is None:
        raise HTTPException(404, f"no paper with id {paper_id[:100]!r}")
    if format == "bibtex":
        return _bibtex_response(paper)
    return paper_out(paper, w.entries([(pk, paper)], current_user(request))[0])


@router.get("/daily_papers", response_model=DailyOut, summary="The daily list (or a week's / month's)",
            responses=error_responses(400))
def api_daily(request: Request, date: Day = None, week: Week = None, month: Month = None,
              sort: Annotated[Literal["publishedAt", "newest", "upvotes", "trending"],
                              Query(description="the site's orders: upvotes, trending, newest (= publishedAt)")]
              = "publishedAt", p: PageNo = 1, limit: Limit = 50) -> dict:
    w = web(request)
    try:
        period = parse_period(date, week, month, latest_day(w.pf.store))
    except PeriodError as e:
        raise HTTPException(400, str(e)) from None
    # The same orders as the daily page (web/pages.py `sorted_period`); publishedAt is newest.
    items, total = sorted_period(w, period, "newest" if sort == "publishedAt" else sort, limit, (p - 1) * limit)
    entries = w.entries(items, None)
    return {"period": {"kind": period.kind, "start": period.start, "end": period.end}, "sort": sort,
            "page": p, "limit": limit, "total": total, "papers": [paper_out(e.paper, e) for e in entries]}
