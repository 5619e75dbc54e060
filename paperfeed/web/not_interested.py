"""The digest's "not interested" link: GET shows what will happen, POST dismisses the paper.

The signed link (mail/links.py, purpose `dismiss`, binding subscriber and paper) is the credential, as
for unsubscribing: no log-in from an email.  GET never changes anything (mail scanners and link
previews follow links), the confirm page's form POSTs the same token.  A forged or tampered token, or
one for a subscription without an account, gets the 400 page and changes nothing; an unknown paper 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from paperfeed.mail.links import BadLink
from paperfeed.models import Paper
from paperfeed.store import signals as signals_sql
from paperfeed.web.context import render, web
from paperfeed.web.subscribe import bad_link, links, subscriptions

router = APIRouter(include_in_schema=False)


def _target(request: Request, t: str | None) -> tuple[int, int, Paper] | HTMLResponse:
    try:
        sid, pk = links(request).read_dismiss(t)
    except BadLink as e:
        return bad_link(request, str(e))
    sub = subscriptions(request).get(sid)
    if sub is None or sub.user_id is None:
        return bad_link(request, "this subscription has no account to remember it for")
    paper = web(request).pf.store.get_many([pk]).get(pk)
    if paper is None:
        return render(request, "error.html", status_code=404, heading="Paper not found",
                      message="Nothing was changed: that paper is no longer here.", title="Not found · paperfeed")
    return sub.user_id, pk, paper


@router.get("/digest/not-interested", response_class=HTMLResponse)
def confirm(request: Request, t: str | None = None) -> Response:
    got = _target(request, t)
    if not isinstance(got, tuple):
        return got
    return render(request, "not_interested.html", paper=got[2], done=False, t=t, title="Not interested · paperfeed")


@router.post("/digest/not-interested", response_class=HTMLResponse)
def dismiss(request: Request, t: str | None = None) -> Response:
    got = _target(request, t)
    if not isinstance(got, tuple):
        return got
    user_id, pk, paper = got
    signals_sql.dismiss(web(request).pf.store, user_id, pk)
    return render(request, "not_interested.html", paper=paper, done=True, t=t, title="Not interested · paperfeed")
