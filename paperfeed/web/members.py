"""A member's public profile page, `/members/{handle}`, and what it and `GET /api/members/{handle}` show.

What is public: the handle, display name, bio and links the member chose (web/profile_settings.py), the
papers they are an approved author of, the papers they submitted to a day's list, their collections whose
visibility is `public` (never `private` or `link`: a link-shared collection stays known only to those given
the link) and their recent comments that are neither deleted nor hidden.  Never an email address, a role,
votes, or pending and rejected claims.

Who has a page: members with a chosen handle, a verified address and no ban (`Member.public`).  An unknown
handle, `member<N>`, an unverified or banned member: the same 404, so the page cannot tell who has an account.
The handle in the URL is normalised like a typed one (NFKC, case-folded, a leading '@' dropped): `/members/ADA`
and fullwidth `/members/ａｄａ` are Ada's page.  A *look-alike* (a Cyrillic "аda", skeleton equal to "ada")
is a 404, not Ada's page and not a redirect to it: the skeleton keeps impostors from registering look-alikes,
and answering one would make a look-alike link show the real member under an address that is not theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from paperfeed.models import Paper
from paperfeed.people.handles import MAX_LEN, normalise
from paperfeed.store import collections as collections_sql
from paperfeed.store import discussion as discussion_sql
from paperfeed.store import people
from paperfeed.store.discussion import RecentComment
from paperfeed.store.papers import Store
from paperfeed.store.people import Claim, Member
from paperfeed.urls import safe_link
from paperfeed.web.context import Entry, WebState, current_user, error_page, render, web

router = APIRouter(include_in_schema=False)

MAX_ITEMS = 20  # of each list on a profile (claimed, submitted, comments)
MAX_COLLECTIONS = 10
COLLECTION_PREVIEW = 5  # papers listed under each public collection
NOT_FOUND = "No member with a public profile has this handle."


@dataclass(frozen=True)
class PublicCollection:
    name: str
    size: int
    papers: list[tuple[str, str]]  # (paper id, title) of the first few


@dataclass(frozen=True)
class PublicProfile:
    member: Member
    links: list[str]
    claims: list[tuple[Claim, Paper]]
    submissions: list[tuple[int, date, Paper]]  # (pk, day, paper)
    collections: list[PublicCollection]
    comments: list[RecentComment]


def public_member(store: Store, raw_handle: str) -> Member | None:
    """The member with a public profile whose handle is `raw_handle` (normalised), or None."""
    h = normalise(raw_handle[: 4 * MAX_LEN]).lstrip("@")
    if not h or len(h) > MAX_LEN:
        return None
    m = people.member_by_handle(store, h)
    return m if m is not None and m.public and m.handle == h else None


def public_profile(store: Store, m: Member) -> PublicProfile:
    """Everything the page and the API show of `m` (about eight indexed queries, whatever the lists hold)."""
    claims = people.claims_of_member(store, m.id, "approved")[:MAX_ITEMS]
    subs = people.submissions_of(store, m.id, MAX_ITEMS)
    shelves = collections_sql.public_of(store, m.id)[:MAX_COLLECTIONS]
    shelf_pks = {c.id: collections_sql.items(store, c.id)[:COLLECTION_PREVIEW] for c in shelves}
    papers = store.get_many(list({*(c.paper_pk for c in claims), *(pk for pk, _ in subs),
                                  *(pk for pks in shelf_pks.values() for pk in pks)}))
    return PublicProfile(
        member=m,
        links=[u for u in (safe_link(x) for x in m.links) if u],  # checked when saved; again when shown
        claims=[(c, papers[c.paper_pk]) for c in claims if c.paper_pk in papers],
        submissions=[(pk, day, papers[pk]) for pk, day in subs if pk in papers],
        collections=[PublicCollection(c.name, c.size, [(papers[pk].id, papers[pk].title)
                                                       for pk in shelf_pks[c.id] if pk in papers])
                     for c in shelves],
        comments=discussion_sql.recent_comments_by(store, m.id, MAX_ITEMS),
    )


def _entries(w: WebState, request: Request, items: list[tuple[int, Paper]]) -> list[Entry]:
    return w.entries(items, current_user(request))


@router.get("/members/{handle}", response_class=HTMLResponse)
def member_page(request: Request, handle: str) -> HTMLResponse:
    w = web(request)
    m = public_member(w.pf.store, handle)
    if m is None:
        return error_page(request, 404, NOT_FOUND)
    prof = public_profile(w.pf.store, m)
    claimed = _entries(w, request, [(c.paper_pk, p) for c, p in prof.claims])
    submitted = _entries(w, request, [(pk, p) for pk, _day, p in prof.submissions])
    days = [day for _pk, day, _p in prof.submissions]
    return render(request, "member.html", profile=prof, member=m, claimed=claimed,
                  submitted=list(zip(days, submitted, strict=True)), back=request.url.path,
                  title=f"{m.name} (@{m.handle}) · paperfeed")
