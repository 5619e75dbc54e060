""""For you": the member's personal feed on the site (`/papers/for-you`), as a private signed feed
(`/papers/for-you.atom|.rss?key=`) and over the API (`GET /api/recommendations`, bearer token).

All three ask `FeedService` (paperfeed/recommend/) and nothing else, so they cannot disagree; no page
here is served from the shared page cache (they are personal) and every answer is `Cache-Control:
no-store`.  A page costs one `raw_signals` read for the "from 12 upvotes, …" line, the ranking (a few
ms over ~300 candidates) and one batch of card queries (`WebState.entries`): nothing per card.

The feed key is `signer("foryou-feed")` over (member id, the member's nonce in `signal_prefs.feed_key`,
0008_foryou): a key whose signature fails, whose member is gone or whose nonce was reset is a 404, the
same answer as for a key that never existed, so the feed URLs cannot be probed for members.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from itsdangerous import BadSignature
from pydantic import BaseModel

from paperfeed.models import Paper
from paperfeed.recommend.reason_actions import follow_of_reason
from paperfeed.recommend.service import FeedPick
from paperfeed.store import signals as signals_sql
from paperfeed.store.accounts import User
from paperfeed.web.accounts import NO_STORE, _need_login
from paperfeed.web.api import PaperOut, error_responses, paper_out
from paperfeed.web.context import Entry, WebState, current_user, render, web
from paperfeed.web.feeds import MEDIA, render_feed
from paperfeed.web.tokens import token_user

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["api"])

PAGE_PICKS = 50  # picks on the page and in the feed (the candidates are one week's ~300-2,000 papers)
FEED_SALT = "foryou-feed"
READ_SCOPES = ("read", "write")  # a write token can also read; a comment-only token cannot


@dataclass(frozen=True)
class PickView:
    """A pick as the page shows it: the card, why, and what the member can do about the why."""

    entry: Entry
    reason: str
    because: Paper | None  # the liked paper the reason names (a link)
    follow: tuple[str, str] | None  # (kind, value) when the reason is a follow: "unfollow" acts on it


@dataclass(frozen=True)
class SignalCounts:
    upvotes: int
    saved: int
    dismissed: int
    follows: int
    seen: int

    def sentence(self) -> str:
        parts = [(self.upvotes, "upvote"), (self.saved, "saved"), (self.dismissed, "dismissed"),
                 (self.follows, "follow")]
        words = [f"{n} {w}{'s' if n != 1 and w in ('upvote', 'follow') else ''}" for n, w in parts if n]
        return "from " + ", ".join(words) if words else "from no signals yet"


def signal_counts(w: WebState, user_id: int) -> tuple[SignalCounts, list[tuple[str, str]]]:
    raw = signals_sql.raw_signals(w.pf.store, user_id)
    kinds = [k for _, k, _ in raw.liked]
    return SignalCounts(kinds.count("upvoted"), kinds.count("saved"), len(raw.dismissed), len(raw.follows),
                        len(raw.exclude)), raw.follows


def picks_of(w: WebState, user: User, limit: int, include_seen: bool = False) -> list[tuple[FeedPick, Paper]]:
    picks = w.feed.for_member(user.id, limit, include_seen=include_seen)
    found = w.pf.store.get_many([p.pk for p in picks])
    return [(p, found[p.pk]) for p in picks if p.pk in found]


# -- the page -------------------------------------------------------------------------------------------


@router.get("/papers/for-you", response_class=HTMLResponse)
def for_you_page(request: Request, include_seen: Annotated[int, Query(ge=0, le=1)] = 0,
                 hidden: Annotated[str | None, Query(max_length=256)] = None) -> Response:
    user = current_user(request)
    if user is None:
        return _need_login(request, "/papers/for-you")
    w = web(request)
    counts, follows = signal_counts(w, user.id)
    picks = picks_of(w, user, PAGE_PICKS, bool(include_seen))
    entries = w.entries([(p.pk, paper) for p, paper in picks], user)
    liked = w.pf.store.get_many([pk for p, _ in picks if p.because
                                 for pk in [w.pf.store.pk_of(p.because)] if pk is not None])
    by_id = {paper.id: paper for paper in liked.values()}
    views = [PickView(e, p.reason, by_id.get(p.because) if p.because else None, follow_of_reason(p.reason, follows))
             for (p, _), e in zip(picks, entries, strict=True)]
    undo = w.pf.store.get(hidden) if hidden else None
    if undo is not None:
        pk = w.pf.store.pk_of(undo.id)
        if pk is None or pk not in signals_sql.dismissed_among(w.pf.store, user.id, [pk]):
            undo = None
    page = render(request, "foryou.html", picks=views, counts=counts, include_seen=bool(include_seen),
                  undo=undo, title="For you · paperfeed")
    page.headers.update(NO_STORE)
    return page


# -- the private feed ---------------------------------------------------------------------------------


def feed_token(w: WebState, user_id: int) -> str:
    return w.signer(FEED_SALT).dumps({"u": user_id, "k": signals_sql.feed_key(w.pf.store, user_id)})


def feed_owner(w: WebState, token: str | None) -> User | None:
    """The member a feed key belongs to, or None (bad signature, reset nonce, deleted member)."""
    if not token or len(token) > 500:
        return None
    try:
        data = w.signer(FEED_SALT).loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int) or not isinstance(data.get("k"), str):
        return None
    if not signals_sql.feed_key_matches(w.pf.store, data["u"], data["k"]):
        return None
    return w.accounts.user(data["u"])


@router.get("/papers/for-you.{fmt}")
def for_you_feed(request: Request, fmt: Literal["atom", "rss"],
                 key: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    w = web(request)
    user = feed_owner(w, key)
    if user is None:
        raise HTTPException(404, "No such feed.")
    picks = picks_of(w, user, PAGE_PICKS)
    site = w.settings.site_url()
    self_url = f"{site}/papers/for-you.{fmt}?key={key}"
    body = render_feed(fmt, "paperfeed: for you", self_url, site + "/papers/for-you", [p for _, p in picks],
                       notes={paper.id: pick.reason for pick, paper in picks})
    return Response(body, media_type=MEDIA[fmt], headers=NO_STORE)


# -- the API --------------------------------------------------------------------------------------------


class PickOut(PaperOut):
    score: float
    reason: str  # "by Yann LeCun, whom you follow", "because you saved “…”"
    because: str | None  # id of the liked paper the reason names


class RecommendationsOut(BaseModel):
    picks: list[PickOut]
    signals: dict[str, int]  # what the picks came from: upvotes, saved, dismissed, follows, seen


def reader(request: Request, user: Annotated[User, Depends(token_user)]) -> User:
    """`token_user` whose token may read (read or write scope); 403 for a comment-only token."""
    if request.state.token_scope not in READ_SCOPES:
        raise HTTPException(403, "this API token cannot read your feed; make one with the read scope on /tokens",
                            headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'})
    return user


@api.get("/recommendations", response_model=RecommendationsOut, summary="Your personal picks, with reasons",
         responses=error_responses(401, 403))
def api_recommendations(request: Request, user: Annotated[User, Depends(reader)],
                        limit: Annotated[int, Query(ge=1, le=100)] = 20,
                        include_seen: Annotated[bool, Query()] = False) -> Response:
    w = web(request)
    counts, _ = signal_counts(w, user.id)
    picks = picks_of(w, user, limit, include_seen)
    entries = w.entries([(p.pk, paper) for p, paper in picks], user)
    out = RecommendationsOut(
        picks=[PickOut(**paper_out(paper, e), score=round(p.score, 6), reason=p.reason, because=p.because)
               for (p, paper), e in zip(picks, entries, strict=True)],
        signals={"upvotes": counts.upvotes, "saved": counts.saved, "dismissed": counts.dismissed,
                 "follows": counts.follows, "seen": counts.seen})
    return Response(out.model_dump_json(), media_type="application/json", headers=NO_STORE)
