"""An author's page, `/authors/{name}`: their papers newest first, and a button to follow them in the
email digest (the subscription form, pre-filled with the name; names are compared there as here:
without case, accents or punctuation)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from paperfeed.mail.digest import normalise_name
from paperfeed.search.query import QueryError, parse_query
from paperfeed.store.authors import papers_by_author
from paperfeed.web.context import WebState, author_url, current_user, error_page, render_shared, web

router = APIRouter()

MAX_NAME = 300  # the subscription form's limit for a followed author


def _candidates(w: WebState, name: str) -> list[int] | None:
    """Papers whose authors field holds the name's words as a phrase, from the keyword index (a look-up,
    not a scan of the papers table); None when the name cannot be put in a query (the store scans then)."""
    try:
        uq = parse_query('author:"' + name + '"')
    except QueryError:
        return None
    lx = w.pf.engine.lexical
    lx.ensure_fresh(w.pf.store)
    q = lx.build(uq, "and")
    if q is None:
        return None
    return [h.pk for h in lx.search(q, max(1, lx.count(q)))]


@router.get("/authors/{name:path}", response_class=HTMLResponse, summary="An author's papers, newest first")
async def author_page(request: Request, name: str, p: Annotated[int, Query(ge=1, le=500)] = 1) -> HTMLResponse:
    w = web(request)
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME:
        return error_page(request, 404, "No such author.")

    def build() -> tuple[str, dict]:
        size = w.settings.page_size
        items, total = papers_by_author(w.pf.store, name, normalise_name, size, (p - 1) * size,
                                        candidates=_candidates(w, name))
        # The name as the papers spell it (the URL may differ in case or accents).
        shown = next((a for _pk, paper in items for a in paper.authors if normalise_name(a) == normalise_name(name)),
                     name)
        base = author_url(name)
        prev_page = f"{base}?p={p - 1}" if p > 1 else None
        next_page = f"{base}?p={p + 1}" if p * size < total else None
        return "author.html", dict(name=shown, entries=w.entries(items, current_user(request)), total=total,
                                   follow_url="/subscribe?" + urlencode({"author": shown}),
                                   prev_page=prev_page, next_page=next_page, title=f"{shown} · paperfeed")

    return await render_shared(request, ("author", request.url.path, request.url.query, p), build)
