"""API tokens and the authenticated API: create/revoke tokens on the profile page, then
`Authorization: Bearer pf_…` on `POST /api/papers/{id}/upvote` and `POST /api/submissions`.

Bearer-token requests carry no cookie, so they need no CSRF token; the session cookie alone
never authorises an API write.  Writes share the site's rate limits (per client address).
A token has a scope (`read`, or `write`, which upvote and submit need: 403 otherwise) and an optional
expiry (401 after it); both are shown on /tokens, whose pages are `Cache-Control: no-store` since one
of them shows a new token.  Tokens are 256 random bits, `pf_` + url-safe base64; only a hash is kept.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from paperfeed.models import normalise_arxiv_id
from paperfeed.store.accounts import User, utcnow
from paperfeed.web.accounts import NO_STORE, _guard, _need_login
from paperfeed.web.api import error_responses
from paperfeed.web.context import client_key, current_user, render, web
from paperfeed.web.fetch import find_or_fetch
from paperfeed.web.listing import latest_day, submission_day_problem

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["api"])
_bearer = HTTPBearer(auto_error=False, description="An API token from your profile page")


# -- token management (HTML, session + CSRF) ----------------------------------------------------------


SCOPES = ("read", "write", "comment", "claim")  # comment: web/discussion.py; claim: authorship claims (web/claims.py)
EXPIRY_CHOICES = [(30, "in 30 days"), (90, "in 90 days"), (365, "in a year"), (0, "never")]


def _tokens_page(request: Request, user: User, new_token: str | None = None, error: str | None = None,
                 status_code: int = 200) -> HTMLResponse:
    page = render(request, "tokens.html", status_code=status_code, tokens=web(request).accounts.tokens(user.id),
                  new_token=new_token, error=error, now=utcnow(), expiry_choices=EXPIRY_CHOICES,
                  title="API tokens · paperfeed")
    page.headers.update(NO_STORE)
    return page


@pages.get("/tokens", response_class=HTMLResponse)
def tokens_page(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        return _need_login(request, "/tokens")
    return _tokens_page(request, user)


@pages.post("/tokens", response_class=HTMLResponse)
def create_token(request: Request, name: str = Form("token", max_length=100), scope: str = Form("write", max_length=10),
                 expires_days: str = Form("90", max_length=5), csrf_token: str | None = Form(None)) -> Response:
    if (blocked := _guard(request, csrf_token, "submit")) is not None:
        return blocked
    user = current_user(request)
    if user is None:
        return _need_login(request, "/tokens")
    days = int(expires_days) if expires_days.strip().isdigit() else -1
    if scope not in SCOPES or days not in {d for d, _ in EXPIRY_CHOICES}:
        return _tokens_page(request, user, error="Choose a scope (read or write) and an expiry from the lists.",
                            status_code=400)
    token = "pf_" + secrets.token_urlsafe(32)
    expires = utcnow().replace(microsecond=0) + dt.timedelta(days=days) if days else None
    web(request).accounts.create_token(user.id, name, token, scope, expires)
    return _tokens_page(request, user, new_token=token)


@pages.post("/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: int, csrf_token: str | None = Form(None)) -> Response:
    if (blocked := _guard(request, csrf_token, None)) is not None:
        return blocked
    user = current_user(request)
    if user is None:
        return _need_login(request, "/tokens")
    web(request).accounts.revoke_token(user.id, token_id)
    return RedirectResponse("/tokens", status_code=303)


# -- the authenticated API ------------------------------------------------------------------------------


def token_user(request: Request,
               cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> User:
    """The user a valid, unrevoked, unexpired bearer token belongs to; 401 otherwise."""
    found = web(request).accounts.token_owner(cred.credentials) if cred and len(cred.credentials) < 200 else None
    if found is None:
        raise HTTPException(401, "a valid API token is required (Authorization: Bearer …)",
                            headers={"WWW-Authenticate": "Bearer"})
    user, token = found
    if token.expired(utcnow()):
        raise HTTPException(401, f"this API token expired on {token.expires_at:%Y-%m-%d}; make a new one on /tokens",
                            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    request.state.token_scope = token.scope
    return user


def writer(request: Request, user: Annotated[User, Depends(token_user)]) -> User:
    """`token_user` whose token has the write scope; 403 for a read-only token."""
    if request.state.token_scope != "write":
        raise HTTPException(403, "this API token is read-only; upvoting and submitting need a token with the "
                            "write scope", headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'})
    return user


def _limit(request: Request, action: str) -> None:
    if not web(request).limiter.allow(action, client_key(request)):
        raise HTTPException(429, "too many requests; slow down")


class VoteOut(BaseModel):
    id: str
    upvoted: bool
    upvotes: int


class SubmissionIn(BaseModel):
    paper: str = Field(min_length=1, max_length=500, description="arXiv id or arxiv.org link")
    day: dt.date | None = Field(None, description="the day's list; default: the newest day")


class SubmissionOut(BaseModel):
    id: str
    day: dt.date


@api.post("/papers/{paper_id:path}/upvote", response_model=VoteOut, summary="Toggle your upvote on a paper",
          responses=error_responses(401, 403, 404, 429))
def api_upvote(request: Request, paper_id: str, user: Annotated[User, Depends(writer)]) -> dict:
    _limit(request, "upvote")
    w = web(request)
    paper = w.pf.store.get(paper_id) if len(paper_id) <= 256 else None
    pk = w.pf.store.pk_of(paper.id) if paper else None
    if paper is None or pk is None:
        raise HTTPException(404, f"no paper with id {paper_id[:100]!r}")
    now = w.community.toggle_vote(user.id, pk)
    return {"id": paper.id, "upvoted": now, "upvotes": w.community.vote_counts([pk]).get(pk, 0)}


@api.post("/submissions", response_model=SubmissionOut, status_code=201, summary="Submit a paper to a day's list",
          responses=error_responses(400, 401, 403, 404, 409, 429))
def api_submit(request: Request, body: SubmissionIn, user: Annotated[User, Depends(writer)]) -> dict:
    _limit(request, "submit")
    w = web(request)
    aid = normalise_arxiv_id(body.paper)
    if aid is None:
        raise HTTPException(400, "paper: give an arXiv id (2503.11731) or an arxiv.org link")
    pk, problem = find_or_fetch(w.pf.store, aid, w.settings.arxiv_api_url)
    paper = w.pf.store.get_many([pk]).get(pk) if pk is not None else None
    if paper is None or pk is None:
        raise HTTPException(404, problem or f"arXiv {aid} is not available")
    day = body.day or latest_day(w.pf.store)
    if (problem := submission_day_problem(day)) is not None:
        raise HTTPException(400, problem)
    if not w.community.submit(user.id, pk, day):
        raise HTTPException(409, f"arXiv {aid} is already on the list of {day.isoformat()}")
    return {"id": paper.id, "day": day}
