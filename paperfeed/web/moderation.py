"""/moderation: the report queue, hide / unhide / delete / dismiss, bans, and the moderation log.

Open to moderators and operators only (403 for everyone else, a log-in page for visitors).  A moderator
sees what they must judge, the comment, its writer's and reporter's handles and the reasons, never an
email address; and acts on a comment, never on a list of members (no enumeration).  A ban also ends every
session of the banned member at once.  Every action is a line in the log (store/discussion.py).
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperfeed.discussion import roles
from paperfeed.discussion.render import render as markdown
from paperfeed.store import discussion as sql
from paperfeed.store.accounts import User
from paperfeed.web.accounts import NO_STORE, _guard, _need_login, safe_next
from paperfeed.web.comments import MAX_ID, MAX_REASON, CommentId, comment_anchor
from paperfeed.web.context import current_user, error_page, render, web

pages = APIRouter(include_in_schema=False)


def _moderator(request: Request) -> User | Response:
    user = current_user(request)
    if user is None:
        return _need_login(request, "/moderation")
    if not roles.can_moderate(web(request).pf.store, user.id):
        return error_page(request, 403, "Only moderators and operators can open this page.")
    return user


@pages.get("/moderation", response_class=HTMLResponse)
def moderation_page(request: Request) -> Response:
    got = _moderator(request)
    if isinstance(got, Response):
        return got
    w = web(request)
    store = w.pf.store
    queue = []
    for r in sql.open_reports(store):
        c = sql.get_comment(store, r.comment_id)
        if c is None:
            continue
        queue.append({"report": r, "comment": c, "html": markdown(c.body), "writer": roles.handle_of(store, c.user_id),
                      "reporter": roles.handle_of(store, r.user_id), "link": comment_anchor(w, c),
                      "banned": roles.is_banned(store, c.user_id)})
    log = [{"entry": e, "actor": roles.handle_of(store, e.actor_id),
            "target": roles.handle_of(store, e.target_user_id) if e.target_user_id else ""}
           for e in sql.moderation_entries(store)]
    page = render(request, "moderation.html", queue=queue, log=log, title="Moderation · paperfeed")
    page.headers.update(NO_STORE)
    return page


@pages.post("/moderation/comments/{comment_id}")
def moderate(request: Request, comment_id: CommentId, action: str = Form("", max_length=10),
             note: str = Form("", max_length=MAX_REASON * 2), next: str | None = Form(None),
             csrf_token: str | None = Form(None)) -> Response:
    if (blocked := _guard(request, csrf_token, None)) is not None:
        return blocked
    got = _moderator(request)
    if isinstance(got, Response):
        return got
    if action not in ("hide", "unhide", "delete", "dismiss"):
        return error_page(request, 400, "Choose hide, unhide, delete or dismiss.")
    sql.moderate(web(request).pf.store, got.id, action, comment_id, note.strip())
    return RedirectResponse(safe_next(next, "/moderation"), status_code=303)


@pages.post("/moderation/ban")
def ban(request: Request, comment_id: int = Form(..., ge=1, le=MAX_ID), note: str = Form("", max_length=1000),
        csrf_token: str | None = Form(None)) -> Response:
    """Ban the writer of a comment (moderators act on what they see: a comment, never a list of members)."""
    if (blocked := _guard(request, csrf_token, None)) is not None:
        return blocked
    got = _moderator(request)
    if isinstance(got, Response):
        return got
    store = web(request).pf.store
    c = sql.get_comment(store, comment_id)
    if c is None:
        return error_page(request, 404, "No such comment.")
    if c.user_id == got.id:
        return error_page(request, 400, "You cannot ban yourself.")
    if roles.ban(store, c.user_id, note.strip()):
        web(request).accounts.revoke_sessions(c.user_id)  # a banned member's sessions end now
        sql.log_action(store, got.id, "ban", target_user_id=c.user_id, comment_id=c.id, note=note.strip())
    return RedirectResponse("/moderation", status_code=303)
