"""Collections on the site: a member's named reading lists, shared privately, by link or publicly.

Pages: `/collections` (mine: create, rename, delete), `/collections/{id}` (its papers as cards, visibility,
the share link, "more like this collection"), and the picker on a paper's page (`_collect.html`, context
from `collect_context`).  Who may see a collection is decided only by `store.collections.visible_to`
(`visible_or_404`): a private collection, or a link one without its token, is a 404 exactly like a
missing one, so ids cannot be probed.  Owner actions by anyone else are 404 too.  Every form is a POST
with the session's CSRF token and the "collection" rate limit (`accounts._guard`).

"More like this collection" is `FeedService.like_these` (recommend/service.py), one model per collection
with its papers as the only likes; the service (its corpus cache) is kept per site in `feed_service`.
"""

from __future__ import annotations

import weakref
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from paperfeed.recommend.service import FeedPick, FeedService
from paperfeed.store import collections as coll
from paperfeed.store.accounts import User
from paperfeed.web.accounts import NO_STORE, _guard, _need_login, safe_next
from paperfeed.web.context import Entry, WebState, current_user, error_page, render, web

router = APIRouter(include_in_schema=False)

LIKE_LIMIT = 10  # "more like this collection" on its page
Name = Annotated[str, Form(max_length=coll.MAX_NAME * 2)]
Token = Annotated[str | None, Query(max_length=100)]
VISIBILITY_LABELS = {"private": "Private (only you)", "link": "Anyone with the link", "public": "Public"}

_services: weakref.WeakKeyDictionary[WebState, FeedService] = weakref.WeakKeyDictionary()


def feed_service(w: WebState) -> FeedService:
    """The site's FeedService (its corpus features are cached per index version inside it)."""
    svc = _services.get(w)
    if svc is None:
        svc = _services[w] = FeedService(w.pf.store)
    return svc


def visible_or_404(request: Request, cid: int, token: str | None = None) -> coll.Collection:
    """The collection when this reader may see it; the same 404 for missing, private and a wrong token."""
    user = current_user(request)
    c = coll.get(web(request).pf.store, cid)
    if not coll.visible_to(c, user.id if user else None, token):
        raise HTTPException(404, "No such collection.")
    assert c is not None
    return c


def owned_or_404(request: Request, cid: int, user: User) -> coll.Collection:
    c = coll.get(web(request).pf.store, cid)
    if c is None or c.user_id != user.id:
        raise HTTPException(404, "No such collection.")
    return c


def share_url(w: WebState, c: coll.Collection) -> str:
    return f"{w.settings.site_url()}/collections/{c.id}?token={quote(c.share_token, safe='')}"


def collection_entries(w: WebState, c: coll.Collection, user: User | None) -> list[Entry]:
    pks = coll.items(w.pf.store, c.id)
    found = w.pf.store.get_many(pks)
    return w.entries([(pk, found[pk]) for pk in pks if pk in found], user)


def more_like(w: WebState, c: coll.Collection, limit: int = LIKE_LIMIT) -> list[FeedPick]:
    ids = coll.item_ids(w.pf.store, c.id)
    if not ids:
        return []
    return feed_service(w).like_these(ids, c.name, limit, exclude=ids)


def collect_context(w: WebState, pk: int, user: User | None) -> dict[str, object]:
    """What the paper page's picker (`_collect.html`) shows: the member's collections, each with whether
    it holds this paper."""
    if user is None:
        return {"collect": None}
    mine = coll.of_user(w.pf.store, user.id)
    holding = set(coll.saved_in(w.pf.store, user.id, [pk]).get(pk, []))
    return {"collect": [(c, c.name in holding) for c in mine]}


# -- my collections ---------------------------------------------------------------------------------


def _list_page(request: Request, user: User, error: str | None = None, status_code: int = 200,
               name: str = "") -> HTMLResponse:
    page = render(request, "collections.html", status_code=status_code,
                  collections=coll.of_user(web(request).pf.store, user.id), error=error, name=name,
                  visibilities=VISIBILITY_LABELS, title="My collections · paperfeed")
    page.headers.update(NO_STORE)
    return page


@router.get("/collections", response_class=HTMLResponse)
def collections_page(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        return _need_login(request, "/collections")
    return _list_page(request, user)


@router.post("/collections")
def create_collection(request: Request, name: Name = "", visibility: str = Form("private", max_length=10),
                      csrf_token: str | None = Form(None)) -> Response:
    if (blocked := _guard(request, csrf_token, "collection")) is not None:
        return blocked
    user = current_user(request)
    if user is None:
        return _need_login(request, "/collections")
    if visibility not in coll.VISIBILITIES:
        return _list_page(request, user, "Choose who can see it from the list.", 400, name)
    if not name.strip():
        return _list_page(request, user, "Give the collection a name.", 400, name)
    made = coll.create(web(request).pf.store, user.id, name, visibility)
    if made is None:
        return _list_page(request, user, "You already have a collection of that name.", 409, name)
    return RedirectResponse(f"/collections/{made.id}", status_code=303)


@router.post("/collections/add")
def add_from_card(request: Request, paper_id: str = Form(..., max_length=256),
                  collection: str = Form("", max_length=20), new_name: Name = "",
                  next: str = Form("/collections", max_length=2000),
                  csrf_token: str | None = Form(None)) -> Response:
    """The picker on a paper's page (and any card): save into one of mine, or into a new one named here."""
    if (blocked := _guard(request, csrf_token, "collection")) is not None:
        return blocked
    user = current_user(request)
    if user is None:
        return _need_login(request, safe_next(next))
    w = web(request)
    pk = w.pf.store.pk_of(paper_id)
    if pk is None:
        return error_page(request, 404, f"No paper with id {paper_id[:100]!r}.")
    if new_name.strip():
        c = coll.create(w.pf.store, user.id, new_name) or coll.named(w.pf.store, user.id, new_name)
    elif collection.isdigit():
        c = owned_or_404(request, int(collection), user)
    else:
        return error_page(request, 400, "Choose one of your collections, or name a new one.")
    assert c is not None
    coll.add(w.pf.store, c.id, pk)
    return RedirectResponse(safe_next(next), status_code=303)


# -- one collection ------------------------------------------------------------------------------------


@router.get("/collections/{cid:int}", response_class=HTMLResponse)
def collection_page(request: Request, cid: int, token: Token = None) -> HTMLResponse:
    w = web(request)
    c = visible_or_404(request, cid, token)
    user = current_user(request)
    mine = user is not None and c.user_id == user.id
    picks = more_like(w, c)
    found = w.pf.store.get_many([p.pk for p in picks])
    like = w.entries([(p.pk, found[p.pk]) for p in picks if p.pk in found], user)
    reasons = {p.pk: p.reason for p in picks}
    owner = w.accounts.user(c.user_id)
    suffix = f"?token={quote(token, safe='')}" if token and c.visibility == "link" and not mine else ""
    page = render(request, "collection.html", c=c, mine=mine, entries=collection_entries(w, c, user), like=like,
                  reasons=reasons, owner=owner.handle if owner else None, visibilities=VISIBILITY_LABELS,
                  share=share_url(w, c) if mine and c.visibility == "link" else None, suffix=suffix,
                  title=f"{c.name} · collection · paperfeed")
    if c.visibility != "public":
        page.headers.update(NO_STORE)  # a private or link-shared list is nobody's cache's business
    return page


def _owner_action(request: Request, cid: int, csrf_token: str | None) -> tuple[Response | None, coll.Collection | None]:
    if (blocked := _guard(request, csrf_token, "collection")) is not None:
        return blocked, None
    user = current_user(request)
    if user is None:
        return _need_login(request, f"/collections/{cid}"), None
    return None, owned_or_404(request, cid, user)


@router.post("/collections/{cid:int}/rename")
def rename_collection(request: Request, cid: int, name: Name = "", csrf_token: str | None = Form(None)) -> Response:
    blocked, c = _owner_action(request, cid, csrf_token)
    if blocked is not None or c is None:
        return blocked or error_page(request, 404, "No such collection.")
    if not name.strip():
        return error_page(request, 400, "Give the collection a name.")
    if not coll.rename(web(request).pf.store, c.id, name):
        return error_page(request, 409, "You already have a collection of that name.")
    return RedirectResponse(f"/collections/{c.id}", status_code=303)


@router.post("/collections/{cid:int}/visibility")
def change_visibility(request: Request, cid: int, visibility: str = Form("", max_length=10),
                      regenerate: str = Form("", max_length=5), csrf_token: str | None = Form(None)) -> Response:
    """Who can see it; `regenerate` gives the collection a new share token, so every old link stops working."""
    blocked, c = _owner_action(request, cid, csrf_token)
    if blocked is not None or c is None:
        return blocked or error_page(request, 404, "No such collection.")
    visibility = visibility or c.visibility
    if visibility not in coll.VISIBILITIES:
        return error_page(request, 400, f"visibility must be one of {', '.join(coll.VISIBILITIES)}")
    coll.set_visibility(web(request).pf.store, c.id, visibility, new_token=bool(regenerate))
    return RedirectResponse(f"/collections/{c.id}", status_code=303)


@router.post("/collections/{cid:int}/delete")
def delete_collection(request: Request, cid: int, confirm: str = Form("", max_length=5),
                      csrf_token: str | None = Form(None)) -> Response:
    blocked, c = _owner_action(request, cid, csrf_token)
    if blocked is not None or c is None:
        return blocked or error_page(request, 404, "No such collection.")
    if confirm != "yes":
        return error_page(request, 400, f"Tick the box to confirm deleting “{c.name}” (its papers stay on the site).")
    coll.remove_collection(web(request).pf.store, c.id)
    return RedirectResponse("/collections", status_code=303)


@router.post("/collections/{cid:int}/remove")
def remove_item(request: Request, cid: int, paper_id: str = Form(..., max_length=256),
                csrf_token: str | None = Form(None)) -> Response:
    blocked, c = _owner_action(request, cid, csrf_token)
    if blocked is not None or c is None:
        return blocked or error_page(request, 404, "No such collection.")
    w = web(request)
    pk = w.pf.store.pk_of(paper_id)
    if pk is not None:
        coll.remove(w.pf.store, c.id, pk)
    return RedirectResponse(f"/collections/{c.id}", status_code=303)
