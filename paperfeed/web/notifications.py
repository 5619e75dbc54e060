"""/notifications: the on-site list of replies and mentions, the "email me" setting, one-click unsubscribe.

The list is a member's own (a log-in page otherwise); a notification of a comment that was hidden or
deleted since shows neither its writer nor its text.  Unsubscribe links are signed with the site secret
(discussion/notify.py) and carry the member id, so a guessed or altered link is a 400 and says nothing about
who exists.  The emails themselves are sent in the background (discussion/sender.py), never here.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperfeed.discussion import roles
from paperfeed.discussion.notify import read_unsubscribe
from paperfeed.discussion.render import plain
from paperfeed.store import discussion as sql
from paperfeed.store import notifications as notes
from paperfeed.web.accounts import NO_STORE, _guard, _need_login
from paperfeed.web.comments import comment_anchor, secret
from paperfeed.web.context import current_user, error_page, render, web

pages = APIRouter(include_in_schema=False)


@pages.get("/notifications", response_class=HTMLResponse)
def notifications_page(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        return _need_login(request, "/notifications")
    w = web(request)
    store = w.pf.store
    items = []
    for n in notes.for_member(store, user.id):
        c = sql.get_comment(store, n.comment_id)
        if c is None:
            continue
        paper = store.get_many([c.paper_pk]).get(c.paper_pk)
        items.append({"note": n, "writer": roles.handle_of(store, c.user_id) if c.visible else "someone",
                      "link": comment_anchor(w, c), "title": paper.title if paper else "",
                      "excerpt": plain(c.body)[:200] if c.visible else ""})
    notes.mark_read(store, user.id)
    page = render(request, "notifications.html", items=items, email_on=notes.email_enabled(store, user.id),
                  title="Notifications · paperfeed")
    page.headers.update(NO_STORE)
    return page


@pages.post("/notifications/settings")
def notification_settings(request: Request, email: str = Form("", max_length=5),
                          csrf_token: str | None = Form(None)) -> Response:
    if (blocked := _guard(request, csrf_token, None)) is not None:
        return blocked
    user = current_user(request)
    if user is None:
        return _need_login(request, "/notifications")
    notes.set_email(web(request).pf.store, user.id, email == "on")
    return RedirectResponse("/notifications", status_code=303)


@pages.get("/notifications/unsubscribe", response_class=HTMLResponse)
def unsubscribe_page(request: Request, t: str | None = None) -> Response:
    if read_unsubscribe(secret(web(request)), t) is None:
        return error_page(request, 400, "This unsubscribe link is not valid.")
    return render(request, "notifications_unsubscribe.html", token=t, done=False, title="Stop emails · paperfeed")


@pages.post("/notifications/unsubscribe", response_class=HTMLResponse)
def unsubscribe(request: Request, t: str | None = None) -> Response:
    """The signed link is the authority (RFC 8058 one-click POSTs it with no cookie): no CSRF token needed."""
    w = web(request)
    uid = read_unsubscribe(secret(w), t)
    if uid is None:
        return error_page(request, 400, "This unsubscribe link is not valid.")
    notes.set_email(w.pf.store, uid, False)
    return render(request, "notifications_unsubscribe.html", token=t, done=True, title="Stop emails · paperfeed")
