"""The discussion on a paper's page: comment, reply, edit, delete, upvote and report (forms, HTML answers).

The rest of the discussion is beside it, one module per job: `web/moderation.py` (/moderation),
`web/notifications.py` (/notifications, the email setting, one-click unsubscribe), `web/discussion_feed.py`
(Atom/RSS per paper), `web/comments_api.py` (the JSON API); what they share is in `web/comments.py`.

Every form POST checks the CSRF token (403) and a rate limit per member (429): "comment" for accounts older
than two days, the harder "comment_new" for younger ones (`discussion/roles.py`), so a fresh account cannot
flood.  Bodies: at most `MAX_COMMENT` characters (a clear 400 page otherwise; web/limits.py caps the bytes).
A reply to a comment that is missing, on another paper, deleted or hidden is a 400 page saying so, and a
`parent` that is not a comment id at all is one too (never a silent top-level comment).  Comments show
handles, never emails.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperfeed.discussion import roles
from paperfeed.store import discussion as sql
from paperfeed.store.accounts import User
from paperfeed.urls import paper_path
from paperfeed.web.accounts import _guard, _need_login
from paperfeed.web.comments import (
    BAD_PARENT,
    MAX_COMMENT,
    MAX_REASON,
    CommentId,
    body_problem,
    comment_anchor,
    find_paper,
    parent_problem,
    post_comment,
    write_problem,
)
from paperfeed.web.context import current_user, error_page, render, web

pages = APIRouter(include_in_schema=False)


def _parent_id(parent: str) -> int | None | str:
    """The `parent` field: None (a top-level comment), a comment id, or the message of a 400."""
    p = parent.strip()
    if not p:
        return None
    return int(p) if p.isascii() and p.isdigit() and len(p) <= 10 else BAD_PARENT  # "١٢" is isdigit() too


@pages.post("/papers/{paper_id:path}/comments")
def post_form(request: Request, paper_id: str, body: str = Form("", max_length=MAX_COMMENT * 2),
              parent: str = Form("", max_length=20), csrf_token: str | None = Form(None)) -> Response:
    if (blocked := _guard(request, csrf_token, None)) is not None:
        return blocked
    w = web(request)
    found = find_paper(w, paper_id)
    if found is None:
        return error_page(request, 404, f"No paper with id {paper_id[:100]!r}.")
    pk, pid = found
    user = current_user(request)
    if user is None:
        return _need_login(request, paper_path(pid) + "#discussion")
    if (problem := body_problem(body)) is not None:
        return error_page(request, 400, problem)
    parent_id = _parent_id(parent)
    if isinstance(parent_id, str) or parent_problem(w, pk, parent_id) is not None:
        return error_page(request, 400, BAD_PARENT)
    if (refused := write_problem(w, user)) is not None:
        return error_page(request, *refused)
    comment = post_comment(w, user, pk, body, parent_id)
    if comment is None:  # the parent went away between the check and the insert
        return error_page(request, 400, BAD_PARENT)
    return RedirectResponse(comment_anchor(w, comment), status_code=303)


def _own_comment(request: Request, comment_id: CommentId) -> tuple[sql.Comment, User] | Response:
    user = current_user(request)
    if user is None:
        return _need_login(request, "/papers")
    c = sql.get_comment(web(request).pf.store, comment_id)
    if c is None or c.user_id != user.id or not c.visible:
        return error_page(request, 404, "No such comment of yours.")
    return c, user


@pages.get("/comments/{comment_id}/edit", response_class=HTMLResponse)
def edit_form(request: Request, comment_id: CommentId) -> Response:
    got = _own_comment(request, comment_id)
    if isinstance(got, Response):
        return got
    c, _ = got
    return render(request, "comment_edit.html", comment=c, back=comment_anchor(web(request), c), error=None,
                  max_comment=MAX_COMMENT, title="Edit comment · paperfeed")


@pages.post("/comments/{comment_id}/edit", response_class=HTMLResponse)
def edit(request: Request, comment_id: CommentId, body: str = Form("", max_length=MAX_COMMENT * 2),
         csrf_token: str | None = Form(None)) -> Response:
    if (blocked := _guard(request, csrf_token, None)) is not None:
        return blocked
    got = _own_comment(request, comment_id)
    if isinstance(got, Response):
        return got
    c, user = got
    w = web(request)
    if (problem := body_problem(body)) is not None:
        return render(request, "comment_edit.html", status_code=400, comment=c, back=comment_anchor(w, c),
                      error=problem, body=body, max_comment=MAX_COMMENT, title="Edit comment · paperfeed")
    if (refused := write_problem(w, user)) is not None:
        return error_page(request, *refused)
    sql.edit_comment(w.pf.store, c.id, user.id, body)
    return RedirectResponse(comment_anchor(w, c), status_code=303)


@pages.post("/comments/{comment_id}/delete")
def delete(request: Request, comment_id: CommentId, csrf_token: str | None = Form(None)) -> Response:
    if (blocked := _guard(request, csrf_token, None)) is not None:
        return blocked
    got = _own_comment(request, comment_id)
    if isinstance(got, Response):
        return got
    c, user = got
    w = web(request)
    sql.delete_comment(w.pf.store, c.id, user.id)
    return RedirectResponse(comment_anchor(w, c), status_code=303)


@pages.post("/comments/{comment_id}/upvote")
def upvote(request: Request, comment_id: CommentId, csrf_token: str | None = Form(None)) -> Response:
    if (blocked := _guard(request, csrf_token, None)) is not None:
        return blocked
    w = web(request)
    c = sql.get_comment(w.pf.store, comment_id)
    if c is None or not c.visible:
        return error_page(request, 404, "No such comment.")
    user = current_user(request)
    if user is None:
        return _need_login(request, comment_anchor(w, c))
    if roles.is_banned(w.pf.store, user.id):
        return error_page(request, 403, "Your account may no longer take part in discussions.")
    if not w.limiter.allow("comment_vote", f"member:{user.id}"):
        return error_page(request, 429, "Too many votes; wait a minute.")
    sql.toggle_vote(w.pf.store, c.id, user.id)
    return RedirectResponse(comment_anchor(w, c), status_code=303)


@pages.post("/comments/{comment_id}/report", response_class=HTMLResponse)
def report(request: Request, comment_id: CommentId, reason: str = Form("", max_length=MAX_REASON * 2),
           csrf_token: str | None = Form(None)) -> Response:
    if (blocked := _guard(request, csrf_token, None)) is not None:
        return blocked
    w = web(request)
    c = sql.get_comment(w.pf.store, comment_id)
    if c is None or not c.visible:
        return error_page(request, 404, "No such comment.")
    user = current_user(request)
    if user is None:
        return _need_login(request, comment_anchor(w, c))
    if not w.limiter.allow("report", f"member:{user.id}"):
        return error_page(request, 429, "Too many reports; wait a few minutes.")
    sql.report(w.pf.store, c.id, user.id, reason.strip()[:MAX_REASON] or "(no reason given)")
    return render(request, "comment_reported.html", back=comment_anchor(w, c), title="Reported · paperfeed")
