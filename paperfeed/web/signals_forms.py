"""The forms that give the personal feed its signals, and the member's controls over them.

- On every card (the `entry` macro, `_card_signals.html`): "Save" (into the member's "Saved" collection,
  made on first use; pressed again it takes the paper out) and "Not interested" (a dismissal; the card
  becomes a one-line stub with "Undo" in the same place).  Both are plain POSTs that redirect back to
  the page they came from at the card's anchor, as upvotes do, so the reader keeps their place.
- Follows owned by the member: an author (author page), a saved search (search results), a category
  (the settings page); unfollow from the settings page or from a pick's reason.
- "Your feed settings" (`/papers/for-you/settings`): the follows, the implicit-signals switch (off by
  default), the private feed link and its reset, download all signals (JSON), delete all signals.

Every POST checks the session's CSRF token and a rate limit first (`accounts._guard`); a signal counts
on the very next page (the ranker has no model to retrain).  Bad input is a 400 page that says what to
fix; another member's signals are never reachable (everything is keyed by the session's member).
"""

from __future__ import annotations

import json
import re
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperfeed.search.query import QueryError, parse_query
from paperfeed.store import collections as collections_sql
from paperfeed.store import signals as signals_sql
from paperfeed.store.accounts import User
from paperfeed.web.accounts import NO_STORE, _guard, _need_login, safe_next
from paperfeed.web.context import SAVED, WebState, current_user, error_page, render, web
from paperfeed.web.foryou import feed_token

router = APIRouter(include_in_schema=False)

ACTION = "upvote"  # card signals share the upvote's rate limit: the same kind of click
MAX_AUTHOR = 300  # as the author page
MAX_SEARCH = 1000  # as a subscription's saved search
CATEGORY = re.compile(r"[a-z][a-z-]*(\.[A-Za-z][A-Za-z-]*|\.\*)?")  # cs.CL, cs.*, math, q-bio.NC
KIND_LABELS = {"author": "Author", "category": "Category", "search": "Saved search"}
Next = Annotated[str | None, Form(max_length=2000)]
Csrf = Annotated[str | None, Form()]


def _paper_pk(w: WebState, paper_id: str) -> int | None:
    return w.pf.store.pk_of(paper_id) if len(paper_id) <= 256 else None


def _member_or_login(request: Request, back: str | None) -> User | Response:
    user = current_user(request)
    return user if user is not None else _need_login(request, safe_next(back))


# -- card controls ------------------------------------------------------------------------------------


@router.post("/papers/{paper_id:path}/not-interested")
def not_interested(request: Request, paper_id: str, csrf_token: Csrf = None, next: Next = None) -> Response:
    if (blocked := _guard(request, csrf_token, ACTION)) is not None:
        return blocked
    w = web(request)
    pk = _paper_pk(w, paper_id)
    if pk is None:
        return error_page(request, 404, f"No paper with id {paper_id[:100]!r}.")
    user = _member_or_login(request, next)
    if not isinstance(user, User):
        return user
    signals_sql.dismiss(w.pf.store, user.id, pk)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/papers/{paper_id:path}/not-interested/undo")
def undo_not_interested(request: Request, paper_id: str, csrf_token: Csrf = None, next: Next = None) -> Response:
    if (blocked := _guard(request, csrf_token, ACTION)) is not None:
        return blocked
    w = web(request)
    pk = _paper_pk(w, paper_id)
    if pk is None:
        return error_page(request, 404, f"No paper with id {paper_id[:100]!r}.")
    user = _member_or_login(request, next)
    if not isinstance(user, User):
        return user
    signals_sql.undismiss(w.pf.store, user.id, pk)
    return RedirectResponse(safe_next(next), status_code=303)


def saved_collection(w: WebState, user_id: int) -> collections_sql.Collection:
    """The member's "Saved" collection, created on first use (a concurrent first save finds the other's)."""
    for c in collections_sql.of_user(w.pf.store, user_id):
        if c.name == SAVED:
            return c
    made = collections_sql.create(w.pf.store, user_id, SAVED)
    if made is not None:
        return made
    return next(c for c in collections_sql.of_user(w.pf.store, user_id) if c.name == SAVED)


@router.post("/papers/{paper_id:path}/save")
def save(request: Request, paper_id: str, csrf_token: Csrf = None, next: Next = None) -> Response:
    """Save into "Saved"; a paper already there is taken out (the button shows "Saved ✓")."""
    if (blocked := _guard(request, csrf_token, ACTION)) is not None:
        return blocked
    w = web(request)
    pk = _paper_pk(w, paper_id)
    if pk is None:
        return error_page(request, 404, f"No paper with id {paper_id[:100]!r}.")
    user = _member_or_login(request, next)
    if not isinstance(user, User):
        return user
    c = saved_collection(w, user.id)
    if not collections_sql.add(w.pf.store, c.id, pk):
        collections_sql.remove(w.pf.store, c.id, pk)
    return RedirectResponse(safe_next(next), status_code=303)


# -- follows --------------------------------------------------------------------------------------------


def follow_problem(kind: str, value: str) -> str | None:
    """Why (kind, value) cannot be followed, or None."""
    if kind not in KIND_LABELS:
        return "Choose what to follow: an author, a category or a saved search."
    if not value:
        return f"Give the {KIND_LABELS[kind].lower()} to follow."
    if kind == "author" and len(value) > MAX_AUTHOR:
        return f"An author's name has at most {MAX_AUTHOR} characters."
    if kind == "category" and not CATEGORY.fullmatch(value):
        return "A category looks like cs.CL, or cs.* for all of computer science."
    if kind == "search":
        if len(value) > MAX_SEARCH:
            return f"A saved search has at most {MAX_SEARCH} characters."
        try:
            parse_query(value)
        except QueryError as e:
            return f"That search does not parse: {e}"
    return None


@router.post("/papers/for-you/follow", response_class=HTMLResponse)
def follow(request: Request, kind: Annotated[str, Form(max_length=20)] = "",
           value: Annotated[str, Form(max_length=MAX_SEARCH + 100)] = "", csrf_token: Csrf = None,
           next: Next = None) -> Response:
    if (blocked := _guard(request, csrf_token, "preferences")) is not None:
        return blocked
    user = _member_or_login(request, next)
    if not isinstance(user, User):
        return user
    value = " ".join(value.split())
    if (problem := follow_problem(kind, value)) is not None:
        return settings_page(request, user, error=problem, status_code=400)
    signals_sql.follow(web(request).pf.store, user.id, kind, value)
    return RedirectResponse(safe_next(next, "/papers/for-you/settings"), status_code=303)


@router.post("/papers/for-you/unfollow")
def unfollow(request: Request, kind: Annotated[str, Form(max_length=20)] = "",
             value: Annotated[str, Form(max_length=MAX_SEARCH + 100)] = "", csrf_token: Csrf = None,
             next: Next = None) -> Response:
    if (blocked := _guard(request, csrf_token, "preferences")) is not None:
        return blocked
    user = _member_or_login(request, next)
    if not isinstance(user, User):
        return user
    signals_sql.unfollow(web(request).pf.store, user.id, kind, value)
    return RedirectResponse(safe_next(next, "/papers/for-you/settings"), status_code=303)


# -- settings: implicit signals, the feed link, download, delete --------------------------------------------


def settings_page(request: Request, user: User, error: str | None = None, notice: str | None = None,
                  status_code: int = 200) -> HTMLResponse:
    w = web(request)
    raw = signals_sql.raw_signals(w.pf.store, user.id)
    mine = signals_sql.member_follows_of(w.pf.store, user.id)
    linked = [f for f in raw.follows if f not in mine]  # from an email subscription linked to the account
    key = feed_token(w, user.id)
    site = w.settings.site_url()
    page = render(request, "foryou_settings.html", status_code=status_code, follows=mine, linked=linked,
                  labels=KIND_LABELS, implicit=signals_sql.implicit_on(w.pf.store, user.id),
                  atom_url=f"{site}/papers/for-you.atom?{urlencode({'key': key})}",
                  rss_url=f"{site}/papers/for-you.rss?{urlencode({'key': key})}",
                  error=error, notice=notice, title="Your feed settings · paperfeed")
    page.headers.update(NO_STORE)
    return page


NOTICES = {"deleted": "All your feed signals were deleted.",
           "reset": "New feed link made; the old one no longer works.", "implicit": "Saved."}


@router.get("/papers/for-you/settings", response_class=HTMLResponse)
def settings(request: Request, done: Annotated[str | None, Query(max_length=20)] = None) -> Response:
    user = current_user(request)
    if user is None:
        return _need_login(request, "/papers/for-you/settings")
    return settings_page(request, user, notice=NOTICES.get(done or ""))


@router.post("/papers/for-you/implicit")
def implicit(request: Request, on: Annotated[str, Form(max_length=5)] = "0", csrf_token: Csrf = None) -> Response:
    if (blocked := _guard(request, csrf_token, "preferences")) is not None:
        return blocked
    user = _member_or_login(request, "/papers/for-you/settings")
    if not isinstance(user, User):
        return user
    signals_sql.set_implicit(web(request).pf.store, user.id, on == "1")
    return RedirectResponse("/papers/for-you/settings?done=implicit", status_code=303)


@router.post("/papers/for-you/feed-link")
def reset_feed_link(request: Request, csrf_token: Csrf = None) -> Response:
    if (blocked := _guard(request, csrf_token, "preferences")) is not None:
        return blocked
    user = _member_or_login(request, "/papers/for-you/settings")
    if not isinstance(user, User):
        return user
    signals_sql.reset_feed_key(web(request).pf.store, user.id)
    return RedirectResponse("/papers/for-you/settings?done=reset", status_code=303)


@router.get("/papers/for-you/signals.json")
def download(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        return _need_login(request, "/papers/for-you/settings")
    body = json.dumps(signals_sql.export_signals(web(request).pf.store, user.id), ensure_ascii=False, indent=1)
    return Response(body, media_type="application/json",
                    headers={**NO_STORE, "Content-Disposition": 'attachment; filename="paperfeed-signals.json"'})


@router.post("/papers/for-you/delete", response_class=HTMLResponse)
def delete_all(request: Request, confirm: Annotated[str, Form(max_length=20)] = "",
               csrf_token: Csrf = None) -> Response:
    if (blocked := _guard(request, csrf_token, "preferences")) is not None:
        return blocked
    user = _member_or_login(request, "/papers/for-you/settings")
    if not isinstance(user, User):
        return user
    if confirm.strip().lower() != "delete":
        return settings_page(request, user, status_code=400,
                             error="Nothing was deleted: type delete in the box to confirm.")
    signals_sql.delete_signals(web(request).pf.store, user.id)
    return RedirectResponse("/papers/for-you/settings?done=deleted", status_code=303)
