"""GET /api/members/{handle}: a member's public profile as JSON (handle, display name, bio, links, claims).

Only what the profile page would show: never an email, a role, or anything of a member who has no public
profile (no handle, unverified email, banned).  An unknown handle and a hidden member answer the same 404
with the same body, so the API cannot be used to find out who has an account.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from paperfeed.people.handles import normalise
from paperfeed.store import people
from paperfeed.urls import safe_link
from paperfeed.web.context import web

router = APIRouter(prefix="/api", tags=["api"])


class ClaimOut(BaseModel):
    paper_id: str
    author_name: str


class MemberOut(BaseModel):
    handle: str
    display_name: str
    bio: str
    links: list[str]
    claimed_papers: list[ClaimOut]


@router.get("/members/{handle}", response_model=MemberOut, summary="A member's public profile",
            responses={404: {"description": "No member with a public profile has this handle"}})
def api_member(request: Request, handle: str) -> MemberOut:
    store = web(request).pf.store
    m = people.member_by_handle(store, normalise(handle[:64]).lstrip("@"))
    if m is None or not m.public:
        raise HTTPException(404, "no such member")
    approved = people.claims_of_member(store, m.id, "approved")
    ids = store.ids_of([c.paper_pk for c in approved])
    return MemberOut(handle=m.shown_handle, display_name=m.name, bio=m.bio or "",
                     links=[u for u in (safe_link(x) for x in m.links) if u],
                     claimed_papers=[ClaimOut(paper_id=ids[c.paper_pk], author_name=c.author_name)
                                     for c in approved if c.paper_pk in ids])
