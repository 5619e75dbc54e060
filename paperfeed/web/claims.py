"""Claiming authorship on the site and in the API; the operators' queue at /moderation/claims.

A logged-in member claims one of a paper's listed authors from the paper page (`_claim.html`, CSRF); the
policy (listed names only, verified email and handle first, auto-approval by an operator's email-domain rule,
one approved claim per author) is `paperfeed.people.claims`.  The queue is for operators only
(`people.roles.is_operator`): moderators hide comments and ban writers, but whether someone wrote a paper is
the operator's call, so a moderator gets the same 403 as a member (anonymous visitors are sent to log in, as
on /moderation).  The queue shows a claimant's email *domain* (what a rule would match), never the address.
Every decision is a POST with the CSRF token, then a redirect (POST-redirect-GET), and is written to the
moderation log.  Adding a rule applies it to the pending queue at once.

The API takes a bearer token with the `claim` (or `write`) scope for `POST /api/papers/{id}/claims`; any
valid token lists the caller's own claims (`GET /api/claims`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from paperfeed.people import claims as policy
from paperfeed.people.roles import is_operator
from paperfeed.store import people
from paperfeed.store.accounts import User, utcnow
from paperfeed.store.dialect import MAX_ROW_ID
from paperfeed.urls import paper_path
from paperfeed.web.accounts import NO_STORE, _guard, _need_login
from paperfeed.web.api import error_responses
from paperfeed.web.context import WebState, current_user, error_page, render, web
from paperfeed.web.tokens import token_user

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["claims"])
ClaimId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
MAX_NAME = 500
MAX_REASON = 300
MAX_DOMAIN = 255


def _paper(w: WebState, paper_id: str) -> tuple[int, str, list[str]] | None:
    paper = w.pf.store.get(paper_id) if len(paper_id) <= 256 else None
    pk = w.pf.store.pk_of(paper.id) if paper else None
    return (pk, paper.id, list(paper.authors)) if paper and pk is not None else None


def status_text(c: people.Claim) -> str:
    """What the member reads about their claim (page and API agree)."""
    if c.status == "approved":
        if (c.reason or "").startswith("auto: rule"):
            return f"approved automatically by {c.reason.removeprefix('auto: ')}"  # type: ignore[union-attr]
        return "approved by an operator"
    if c.status == "rejected":
        return "rejected" + (f": {c.reason}" if c.reason else "")
    return "waiting for an operator"


def claim_context(w: WebState, paper_pk: int, user: User | None) -> dict:
    """What `_claim.html` needs on the paper page.  Without a user it holds only public facts (the approved
    claims), so the anonymous page stays cacheable: approvals bump the discussion version (store/people.py)."""
    store = w.pf.store
    mine = people.claims_on_paper(store, user.id, paper_pk) if user else []
    member = people.member(store, user.id) if user else None
    return {"claimed": people.claimed_authors(store, paper_pk),
            "my_claims": [{"claim": c, "text": status_text(c)} for c in mine],
            "can_claim": member is not None and member.verified and member.handle is not None
            and member.banned_at is None}


# -- the member's claim form -------------------------------------------------------------------------------


@pages.post("/papers/{paper_id:path}/claims")
def claim_form(request: Request, paper_id: str, author: str = Form("", max_length=MAX_NAME * 2),
               csrf_token: str | None = Form(None)) -> Response:
    if (blocked := _guard(request, csrf_token, "claim")) is not None:
        return blocked
    w = web(request)
    found = _paper(w, paper_id)
    if found is None:
        return error_page(request, 404, f"No paper with id {paper_id[:100]!r}.")
    pk, pid, _ = found
    user = current_user(request)
    if user is None:
        return _need_login(request, paper_path(pid))
    if not author.strip():
        return error_page(request, 400, "Choose which of the listed authors you are.")
    try:
        policy.make_claim(w.pf.store, user.id, pk, author)
    except policy.ClaimError as e:
        return error_page(request, 403 if e.status == 403 else 400, str(e))
    return RedirectResponse(paper_path(pid) + "#claim", status_code=303)


# -- the operators' queue ----------------------------------------------------------------------------------


def _operator(request: Request) -> User | Response:
    user = current_user(request)
    if user is None:
        return _need_login(request, "/moderation/claims")
    if not is_operator(web(request).pf.store, user.id):
        return error_page(request, 403, "Only operators can decide authorship claims.")
    return user


def _age(then: datetime, now: datetime) -> str:
    s = max(0, int((now - then).total_seconds()))
    if s < 60:
        return "just now"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h"
    return f"{s // 86400} d"


def _domain(store, member_id: int) -> str:  # type: ignore[no-untyped-def]
    email = people.email_of(store, member_id) or ""
    return email.rsplit("@", 1)[1].lower() if "@" in email else "?"


@pages.get("/moderation/claims", response_class=HTMLResponse)
def queue_page(request: Request, done: str = "") -> Response:
    got = _operator(request)
    if isinstance(got, Response):
        return got
    store = web(request).pf.store
    pending = people.claims(store, "pending", limit=500)
    members = people.members(store, [c.user_id for c in pending])
    papers = store.get_many(sorted({c.paper_pk for c in pending}))
    now = utcnow()
    queue = [{"claim": c, "paper": papers.get(c.paper_pk), "handle": members[c.user_id].shown_handle
              if c.user_id in members else f"member{c.user_id}", "domain": _domain(store, c.user_id),
              "age": _age(c.created_at, now), "taken": people.approved_claim(store, c.paper_pk, c.author_key)
              is not None} for c in pending]
    page = render(request, "moderation_claims.html", queue=queue, rules=people.rules(store), done=done[:200],
                  title="Authorship claims · paperfeed")
    page.headers.update(NO_STORE)
    return page


def _back(message: str) -> RedirectResponse:
    from urllib.parse import urlencode

    return RedirectResponse("/moderation/claims?" + urlencode({"done": message}), status_code=303)


def rule_problem(domain: str, pattern: str) -> str | None:
    if not domain or "." not in domain or len(domain) > MAX_DOMAIN or any(c.isspace() or c in "@/" for c in domain):
        return f"Not an email domain: {domain[:100]!r} (e.g. uni.example.edu)."
    if len(pattern) > MAX_NAME:
        return f"An author pattern has at most {MAX_NAME} characters."
    return None


@pages.post("/moderation/claims/rules")
def add_rule(request: Request, domain: str = Form("", max_length=MAX_DOMAIN * 2),
             pattern: str = Form("", max_length=MAX_NAME * 2), csrf_token: str | None = Form(None)) -> Response:
    if (blocked := _guard(request, csrf_token, None)) is not None:
        return blocked
    got = _operator(request)
    if isinstance(got, Response):
        return got
    d, pat = domain.strip().lower().lstrip("@"), pattern.strip() or "*"
    if (problem := rule_problem(d, pat)) is not None:
        return error_page(request, 400, problem)
    store = web(request).pf.store
    rule = people.add_rule(store, d, pat, created_by=people.handle_of(store, got.id) or f"member{got.id}")
    if rule is None:
        return error_page(request, 400, f"The rule {d} {pat} exists already.")
    approved = policy.approve_pending(store)
    from paperfeed.store import discussion

    discussion.log_action(store, got.id, "claim rule", note=f"rule {rule.id}: {d} {pat}; approved {len(approved)}")
    n = len(approved)
    return _back(f"Rule added; {n} pending claim{'' if n == 1 else 's'} approved.")


@pages.post("/moderation/claims/rules/{rule_id}/delete")
def delete_rule(request: Request, rule_id: ClaimId, csrf_token: str | None = Form(None)) -> Response:
    if (blocked := _guard(request, csrf_token, None)) is not None:
        return blocked
    got = _operator(request)
    if isinstance(got, Response):
        return got
    store = web(request).pf.store
    if not people.delete_rule(store, rule_id):
        return error_page(request, 404, f"There is no rule {rule_id}.")
    from paperfeed.store import discussion

    discussion.log_action(store, got.id, "claim unrule", note=f"rule {rule_id}")
    return _back(f"Rule {rule_id} deleted (claims it approved stay approved).")


# after the /rules routes: "rules" is not a claim id
@pages.post("/moderation/claims/{claim_id}")
def decide(request: Request, claim_id: ClaimId, action: str = Form("", max_length=10),
           reason: str = Form("", max_length=MAX_REASON * 2), csrf_token: str | None = Form(None)) -> Response:
    if (blocked := _guard(request, csrf_token, None)) is not None:
        return blocked
    got = _operator(request)
    if isinstance(got, Response):
        return got
    if action not in ("approve", "reject"):
        return error_page(request, 400, "Choose approve or reject.")
    status = "approved" if action == "approve" else "rejected"
    problem = policy.decide(web(request).pf.store, claim_id, status, got.id, reason.strip()[:MAX_REASON])
    if problem is not None:
        return error_page(request, 404 if problem.startswith("There is no") else 400, problem)
    return _back(f"Claim {claim_id} {status}.")


# -- API -----------------------------------------------------------------------------------------------------


class ClaimIn(BaseModel):
    author: str = Field(min_length=1, max_length=MAX_NAME, description="one of the paper's listed authors")


class ClaimOut(BaseModel):
    id: int
    paper: str
    author: str  # as listed on the paper
    status: Literal["pending", "approved", "rejected"]
    status_text: str  # e.g. "approved automatically by rule 3 (uni.example.edu)", "waiting for an operator"
    created_at: datetime
    decided_at: datetime | None


def _out(c: people.Claim, paper_id: str) -> ClaimOut:
    return ClaimOut(id=c.id, paper=paper_id, author=c.author_name, status=c.status,  # type: ignore[arg-type]
                    status_text=status_text(c), created_at=c.created_at, decided_at=c.decided_at)


def claimer(request: Request, user: Annotated[User, Depends(token_user)]) -> User:
    """A bearer token with the `claim` or `write` scope; 403 otherwise."""
    if request.state.token_scope not in ("claim", "write"):
        raise HTTPException(403, "this API token cannot claim papers; that needs the claim (or write) scope",
                            headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'})
    return user


@api.post("/papers/{paper_id:path}/claims", response_model=ClaimOut, status_code=201,
          summary="Claim to be one of a paper's authors", responses=error_responses(400, 401, 403, 404, 409, 429))
def api_claim(request: Request, paper_id: str, body: ClaimIn, user: Annotated[User, Depends(claimer)]) -> ClaimOut:
    w = web(request)
    found = _paper(w, paper_id)
    if found is None:
        raise HTTPException(404, f"no paper with id {paper_id[:100]!r}")
    pk, pid, _ = found
    if not w.limiter.allow("claim", f"member:{user.id}"):
        raise HTTPException(429, "too many claims; wait a few minutes")
    try:
        c = policy.make_claim(w.pf.store, user.id, pk, body.author)
    except policy.ClaimError as e:
        raise HTTPException(e.status, f"author: {e}" if e.status == 400 else str(e)) from None
    return _out(c, pid)


@api.get("/claims", response_model=list[ClaimOut], summary="Your authorship claims, newest first",
         responses=error_responses(401))
def api_claims(request: Request, user: Annotated[User, Depends(token_user)]) -> list[ClaimOut]:
    store = web(request).pf.store
    mine = people.claims_of_member(store, user.id)
    ids = store.ids_of([c.paper_pk for c in mine])
    return [_out(c, ids.get(c.paper_pk, "")) for c in mine]
