"""GET /api/members/{handle}: a member's public profile as JSON (handle, display name, bio, links, claimed
papers, submissions, public collections, recent comments): what /members/{handle} shows (web/members.py
gathers both).

Only what the profile page would show: never an email, a role, or anything of a member who has no public
profile (no handle, unverified email, banned).  An unknown handle and a hidden member answer the same 404
with the same body, so the API cannot be used to find out who has an account.
"""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from paperfeed.web.context import web
from paperfeed.web.members import public_member, public_profile

router = APIRouter(prefix="/api", tags=["api"])


class ClaimOut(BaseModel):
    paper_id: str
    author_name: str


class SubmissionOut(BaseModel):
    paper_id: str
    day: date


class CollectionOut(BaseModel):
    name: str
    size: int
    paper_ids: list[str]  # the first few


class CommentOut(BaseModel):
    id: int
    paper_id: str
    excerpt: str  # plain text, the first 200 characters of the Markdown as typed
    created_at: datetime


class MemberOut(BaseModel):
    handle: str
    display_name: str
    bio: str
    links: list[str]
    claimed_papers: list[ClaimOut]
    submissions: list[SubmissionOut] = []
    public_collections: list[CollectionOut] = []
    recent_comments: list[CommentOut] = []


@router.get("/members/{handle}", response_model=MemberOut, summary="A member's public profile",
            responses={404: {"description": "No member with a public profile has this handle"}})
def api_member(request: Request, handle: str) -> MemberOut:
    store = web(request).pf.store
    m = public_member(store, handle)
    if m is None:
        raise HTTPException(404, "no such member")
    prof = public_profile(store, m)
    return MemberOut(
        handle=m.shown_handle, display_name=m.name, bio=m.bio or "", links=prof.links,
        claimed_papers=[ClaimOut(paper_id=p.id, author_name=c.author_name) for c, p in prof.claims],
        submissions=[SubmissionOut(paper_id=p.id, day=day) for _pk, day, p in prof.submissions],
        public_collections=[CollectionOut(name=c.name, size=c.size, paper_ids=[pid for pid, _t in c.papers])
                            for c in prof.collections],
        recent_comments=[CommentOut(id=c.comment_id, paper_id=c.paper_id, excerpt=c.excerpt,
                                    created_at=c.created_at) for c in prof.comments])
