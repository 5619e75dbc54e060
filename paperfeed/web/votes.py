"""Upvotes that keep your place: the answer a vote gets, and the vote an anonymous visitor asked for.

- With JavaScript (static/site.js) a vote is a `fetch` answered with JSON, and the page is not reloaded;
  without it the form's POST is redirected back to the page it came from, at the card's anchor (`#p-PK`).
- An anonymous visitor's vote is not lost: they are sent to the log-in page with a *pending vote*, a
  token signed with the site secret (itsdangerous, valid one hour) holding the paper and the page to
  return to.  The log-in and sign-up forms carry it; once logged in, the vote is applied and they land
  back where they were.  The return path is checked like every `next` (same site only: `/x`, never
  `//host` or `https://…`), and the signature stops anyone from crafting a link that votes for a
  visitor or sends them elsewhere.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

PENDING_MAX_AGE = 3600


def safe_next(target: str | None, default: str = "/papers") -> str:
    from paperfeed.web.accounts import safe_next as same_site  # one check for every redirect target

    return same_site(target, default)


def _signer(request: Request) -> URLSafeTimedSerializer:
    return request.app.state.web.signer("pending-vote")


def pending_token(request: Request, paper_id: str, back: str) -> str:
    return _signer(request).dumps({"paper": paper_id, "next": safe_next(back)})


def read_pending(request: Request, token: str | None) -> dict[str, Any] | None:
    """The pending vote of a valid, unexpired token, else None."""
    if not token or len(token) > 2000:
        return None
    try:
        data = _signer(request).loads(token, max_age=PENDING_MAX_AGE)
    except BadSignature:  # also covers an expired signature
        return None
    if not isinstance(data, dict) or not isinstance(data.get("paper"), str) or not isinstance(data.get("next"), str):
        return None
    return data


def apply_pending(request: Request, user_id: int) -> str | None:
    """After a log-in: add the pending vote of the request's `pending=` token (a vote already cast stays
    cast, never taken back) and return where to go; None when there was no valid token."""
    data = read_pending(request, request.query_params.get("pending"))
    if data is None:
        return None
    w = request.app.state.web
    pk = w.pf.store.pk_of(data["paper"])
    if pk is not None and not w.community.voted(user_id, [pk]):
        w.community.toggle_vote(user_id, pk)
    return safe_next(data["next"])


def wants_json(request: Request) -> bool:
    """The page's script asks for JSON (no reload); a plain form POST gets a redirect."""
    return "application/json" in request.headers.get("accept", "")
