"""Cold start (`/onboarding`, members only): tell the feed what you care about, then rate a handful of papers.

Step 1 writes ordinary signals, so nothing here is special to onboarding and all of it can be undone from
the usual places: categories and authors are follows (`store/signals.follow`, kinds category/author), a
liked paper is an upvote (`store/community`), and a *region of the map* becomes upvotes of the papers the
member ticks in it, or, when they tick none, of its 3 most central papers (nearest the cluster's mean
embedding, recommend/map_file.py).  Why upvotes and not a new "follow region" kind: the ranker is closed-form
over liked papers (recommend/ranker.py), so three central likes pull the feed towards the region at once,
and a region id would change meaning whenever the map is rebuilt.

Step 2 (`/onboarding/rate`): `ONBOARD_K` = 8 papers chosen by `recommend.active.choose_to_rate` among the
recent candidates (the feed's own pool, FeedService), each answered "interested" (upvote), "not interested"
(dismiss) or left alone; already liked or dismissed papers are never offered again.  Then to /papers/for-you.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from paperfeed.recommend.active import choose_to_rate
from paperfeed.search.derived import IndexUnavailable
from paperfeed.search.query import QueryError, parse_query
from paperfeed.store import signals as signals_sql
from paperfeed.store.accounts import User
from paperfeed.web.accounts import safe_next
from paperfeed.web.context import client_key, current_user, error_page, render, web
from paperfeed.web.map import NO_STORE, clusters, feed_service, map_file, region
from paperfeed.web.security import csrf_ok

router = APIRouter()

ONBOARD_K = 8
REGION_LIKES = 3
CATEGORIES_SHOWN = 16
AUTHORS_SUGGESTED = 8
MAX_AUTHORS = 20
FOR_YOU = "/papers/for-you"
CATEGORY = re.compile(r"^[a-z][a-z-]*(\.[A-Za-z][A-Za-z-]*)?$")


def _member(request: Request) -> User | Response:
    user = current_user(request)
    if user is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    return user


def _guard(request: Request, token: str | None, action: str | None = None) -> Response | None:
    if not csrf_ok(request.session, token):
        return error_page(request, 403, "The form expired or did not come from this site; reload and try again.")
    if action and not web(request).limiter.allow(action, client_key(request)):
        return error_page(request, 429, "Too many attempts; wait a minute and try again.")
    return None


def _like(request: Request, user_id: int, paper_id: str) -> bool:
    """Upvote (never un-vote: onboarding only adds); False for an unknown paper."""
    w = web(request)
    pk = w.pf.store.pk_of(paper_id)
    if pk is None:
        return False
    if not w.community.voted(user_id, [pk]):
        w.community.toggle_vote(user_id, pk)
    return True


@router.get("/onboarding", response_class=HTMLResponse, include_in_schema=False)
def onboarding(request: Request, q: Annotated[str | None, Query(max_length=1000)] = None,
               done: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    user = _member(request)
    if isinstance(user, Response):
        return user
    w = web(request)
    pf = feed_service(w).corpus().pf
    raw = signals_sql.raw_signals(w.pf.store, user.id)
    followed = {(k, v) for k, v in raw.follows}
    cats = Counter(c for cs in pf.categories for c in cs).most_common(CATEGORIES_SHOWN)
    followed_authors = [v for k, v in raw.follows if k == "author"]
    authors = [a for a, _ in Counter(a for aa in pf.authors for a in aa).most_common(AUTHORS_SUGGESTED * 2)
               if ("author", a) not in followed][:AUTHORS_SUGGESTED]
    results, search_error = [], None
    if q and q.strip():
        try:
            results = w.entries([(r.pk, r.paper) for r in w.search(parse_query(q), limit=8)], user)
        except QueryError as e:
            search_error = f"Bad query: {e}"
        except IndexUnavailable as e:
            search_error = str(e)
    sm, state = map_file(w).get(w.pf.store)
    page = render(request, "onboarding.html", title="Get started · paperfeed", categories=cats,
                  followed=followed, followed_authors=followed_authors, authors=authors, q=q or "",
                  results=results, search_error=search_error, clusters=clusters(sm)[:12] if sm else [],
                  map_state=state, liked=len(raw.liked), done=done)
    page.headers.update(NO_STORE)
    return page


@router.post("/onboarding/categories", include_in_schema=False)
def pick_categories(request: Request, csrf_token: Annotated[str | None, Form()] = None,
                    category: Annotated[list[str] | None, Form()] = None,
                    offered: Annotated[list[str] | None, Form()] = None) -> Response:
    user = _member(request)
    if isinstance(user, Response):
        return user
    if (bad := _guard(request, csrf_token)) is not None:
        return bad
    picked = [c.strip() for c in category or [] if c.strip()]
    wrong = [c for c in picked + (offered or []) if len(c) > 40 or not CATEGORY.match(c)]
    if wrong:
        return error_page(request, 400, f"Not an arXiv category: {wrong[0][:40]!r} (e.g. cs.CL).")
    store = web(request).pf.store
    for c in picked:
        signals_sql.follow(store, user.id, "category", c)
    for c in set(offered or []) - set(picked):  # unticked: no longer followed
        signals_sql.unfollow(store, user.id, "category", c)
    return RedirectResponse("/onboarding?done=categories#categories", status_code=303)


@router.post("/onboarding/authors", include_in_schema=False)
def pick_authors(request: Request, csrf_token: Annotated[str | None, Form()] = None,
                 authors: Annotated[str, Form(max_length=5000)] = "",
                 author: Annotated[list[str] | None, Form()] = None) -> Response:
    user = _member(request)
    if isinstance(user, Response):
        return user
    if (bad := _guard(request, csrf_token)) is not None:
        return bad
    names = [" ".join(n.split()) for n in [*re.split(r"[;\n]", authors), *(author or [])]]
    names = list(dict.fromkeys(n for n in names if n))
    if not names:
        return error_page(request, 400, "Type at least one author's name (several: one per line, or separated by ;).")
    if len(names) > MAX_AUTHORS or any(len(n) > 200 for n in names):
        return error_page(request, 400, f"At most {MAX_AUTHORS} authors at once, each under 200 characters.")
    for n in names:
        signals_sql.follow(web(request).pf.store, user.id, "author", n)
    return RedirectResponse("/onboarding?done=authors#authors", status_code=303)


@router.post("/onboarding/like", include_in_schema=False)
def like(request: Request, csrf_token: Annotated[str | None, Form()] = None,
         paper: Annotated[str, Form(max_length=300)] = "",
         next: Annotated[str | None, Form(max_length=2000)] = None) -> Response:
    user = _member(request)
    if isinstance(user, Response):
        return user
    if (bad := _guard(request, csrf_token, "upvote")) is not None:
        return bad
    if not _like(request, user.id, paper):
        return error_page(request, 404, f"No paper {paper[:100]!r}.")
    return RedirectResponse(safe_next(next, "/onboarding?done=paper#papers"), status_code=303)


@router.post("/onboarding/region", include_in_schema=False)
def pick_region(request: Request, csrf_token: Annotated[str | None, Form()] = None,
                cluster: Annotated[int, Form(ge=0, le=10_000)] = 0,
                paper: Annotated[list[str] | None, Form()] = None) -> Response:
    user = _member(request)
    if isinstance(user, Response):
        return user
    if (bad := _guard(request, csrf_token, "upvote")) is not None:
        return bad
    sm, cl, central = region(web(request), cluster)
    if sm is None:
        return error_page(request, 409, "The map is being built; try again in a minute.")
    if cl is None:
        return error_page(request, 404, f"The map has no cluster {cluster}.")
    chosen = [p for p in (paper or []) if p in central] or central[:REGION_LIKES]
    for pid in chosen:
        _like(request, user.id, pid)
    return RedirectResponse("/onboarding?done=region#regions", status_code=303)


def _to_rate(request: Request, user_id: int) -> list[str]:
    fs = feed_service(web(request))
    c = fs.corpus()
    raw = signals_sql.raw_signals(fs.store, user_id)
    liked = [pid for pid, _, _ in raw.liked]
    pool = c.candidates.ids
    if len(set(pool) - set(liked) - set(raw.dismissed)) < ONBOARD_K:  # a quiet week: the whole recent corpus
        pool = c.pf.ids
    return choose_to_rate(c.pf, pool, ONBOARD_K, liked=liked, dismissed=raw.dismissed)


@router.get("/onboarding/rate", response_class=HTMLResponse, include_in_schema=False)
def rate_page(request: Request) -> Response:
    user = _member(request)
    if isinstance(user, Response):
        return user
    w = web(request)
    ids = _to_rate(request, user.id)
    items = [(pk, p) for pk, p in ((w.pf.store.pk_of(i), w.pf.store.get(i)) for i in ids)
             if pk is not None and p is not None]
    page = render(request, "onboarding_rate.html", title="Rate a few papers · paperfeed",
                  entries=w.entries(items, user))
    page.headers.update(NO_STORE)
    return page


@router.post("/onboarding/rate", include_in_schema=False)
async def rate(request: Request) -> Response:
    """Fields `r.<paper id>` = interested | not | skip (one form for the eight papers)."""
    user = _member(request)
    if isinstance(user, Response):
        return user
    form = await request.form()
    token = form.get("csrf_token")
    answers = {str(k)[2:]: str(v) for k, v in form.multi_items() if str(k).startswith("r.")}

    def apply() -> Response:
        if (bad := _guard(request, token if isinstance(token, str) else None, "upvote")) is not None:
            return bad
        wrong = [v for v in answers.values() if v not in ("interested", "not", "skip")]
        if wrong or len(answers) > 4 * ONBOARD_K:
            return error_page(request, 400, "Each answer is one of interested, not, skip.")
        store = web(request).pf.store
        pks = {pid: store.pk_of(pid) for pid in answers}
        unknown = [pid for pid, pk in pks.items() if pk is None]
        if unknown:  # checked before anything is written: a bad form changes nothing
            return error_page(request, 404, f"No paper {unknown[0][:100]!r}.")
        for pid, answer in answers.items():
            pk = pks[pid]
            assert pk is not None
            if answer == "interested":
                _like(request, user.id, pid)
            elif answer == "not":
                signals_sql.dismiss(store, user.id, pk)
        return RedirectResponse(FOR_YOU, status_code=303)

    return await run_in_threadpool(apply)
