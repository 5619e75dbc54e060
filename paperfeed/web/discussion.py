"""The discussion on the site and in the API: comment, reply, edit, delete, upvote and report on a paper's page;
/moderation for moderators and operators; /notifications; a feed per discussion; the comments API.

Every form POST checks the CSRF token (403) and a rate limit per member (429): "comment" for accounts older
than two days, the harder "comment_new" for younger ones (`discussion/roles.py`), so a fresh account cannot
flood.  Bodies: at most `MAX_COMMENT` characters (a clear 400 page or 422 JSON otherwise; web/limits.py caps the
bytes).  Nothing here reveals private data: comments show handles, never emails; a moderator sees reports and
handles, not addresses; the moderation page is 403 for everyone else.  The API takes a bearer token with the
`comment` (or `write`) scope, needs no CSRF (no cookie authorises it) and shares the per-member limits.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from feedgen.feed import FeedGenerator
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from paperfeed.discussion import roles
from paperfeed.discussion.notify import deliver, notify_for, read_unsubscribe
from paperfeed.discussion.render import plain
from paperfeed.discussion.thread import CommentView, build, flatten
from paperfeed.present.latex import to_text
from paperfeed.store import discussion as sql
from paperfeed.store import notifications as notes
from paperfeed.store.accounts import User
from paperfeed.store.secret import site_secret
from paperfeed.urls import paper_path, paper_url
from paperfeed.web.accounts import NO_STORE, _guard, _need_login, safe_next
from paperfeed.web.api import error_responses
from paperfeed.web.context import WebState, current_user, error_page, render, web
from paperfeed.web.feeds import MEDIA, rss_html, xml_text
from paperfeed.web.tokens import token_user

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["discussion"])
MAX_COMMENT = 4000
MAX_ID = 2**31 - 1  # comment ids are 32-bit integers on PostgreSQL: a larger one is a 422, never a DataError
CommentId = Annotated[int, Path(ge=1, le=MAX_ID)]
MAX_REASON = 500
FEED_SIZE = 50


def _secret(w: WebState) -> str:
    return w.settings.secret or site_secret(w.pf.store)


def body_problem(body: str) -> str | None:
    if not body.strip():
        return "Write something first: the comment is empty."
    if len(body) > MAX_COMMENT:
        return f"A comment can have at most {MAX_COMMENT:,} characters; this one has {len(body):,}."
    return None


def write_problem(w: WebState, user: User) -> tuple[int, str] | None:
    """(status, message) when the member may not write now: banned (403) or over their rate limit (429)."""
    if roles.is_banned(w.pf.store, user.id):
        return 403, "Your account may no longer write in discussions."
    action = "comment_new" if roles.is_new(user.created_at) else "comment"
    if not w.limiter.allow(action, f"member:{user.id}"):
        return 429, "You are commenting too fast; wait a few minutes and try again."
    return None


def post_comment(w: WebState, user: User, paper_pk: int, body: str, parent: int | None) -> sql.Comment | None:
    """Store the comment, record its notifications and send their emails (each exactly once)."""
    comment = sql.add_comment(w.pf.store, paper_pk, user.id, body, parent)
    if comment is None:
        return None
    mail = w.settings.mail
    notify_for(w.pf.store, comment, mail is not None)
    if mail is not None:
        deliver(w.pf.store, mail, _secret(w))
    return comment


def unread_notifications(w: WebState, user: User | None) -> int:
    return notes.unread_count(w.pf.store, user.id) if user else 0


def thread_context(w: WebState, pk: int, paper_id: str, user: User | None) -> dict:
    """What paper.html's discussion needs (pages.py adds it to the paper page)."""
    roots = build(w.pf.store, pk, paper_id, user.id if user else None)
    items = flatten(roots)
    return {"comments": items, "comment_count": sum(1 for v in items if v.state == "visible"),
            "can_moderate": roles.can_moderate(w.pf.store, user.id if user else None), "max_comment": MAX_COMMENT}


def _paper(w: WebState, paper_id: str) -> tuple[int, str] | None:
    paper = w.pf.store.get(paper_id) if len(paper_id) <= 256 else None
    pk = w.pf.store.pk_of(paper.id) if paper else None
    return (pk, paper.id) if paper and pk is not None else None


def _comment_anchor(w: WebState, c: sql.Comment) -> str:
    pid = w.pf.store.ids_of([c.paper_pk]).get(c.paper_pk, "")
    return f"{paper_path(pid)}#c-{c.id}"


# -- site ------------------------------------------------------------------------------------------


@pages.post("/papers/{paper_id:path}/comments")
def post_form(request: Request, paper_id: str, body: str = Form("", max_length=MAX_COMMENT * 2),
              parent: str = Form("", max_length=20), csrf_token: str | None = Form(None)) -> Response:
    if (blocked := _guard(request, csrf_token, None)) is not None:
        return blocked
    w = web(request)
    found = _paper(w, paper_id)
    if found is None:
        return error_page(request, 404, f"No paper with id {paper_id[:100]!r}.")
    pk, pid = found
    user = current_user(request)
    if user is None:
        return _need_login(request, paper_path(pid) + "#discussion")
    if (problem := body_problem(body)) is not None:
        return error_page(request, 400, problem)
    parent_id = int(parent) if parent.strip().isdigit() and len(parent.strip()) <= 10 else None
    if parent_id is not None and not 1 <= parent_id <= MAX_ID:
        parent_id = None
    if (refused := write_problem(w, user)) is not None:
        return error_page(request, *refused)
    comment = post_comment(w, user, pk, body, parent_id)
    if comment is None:
        return error_page(request, 400, "The comment you replied to is gone (deleted or hidden).")
    return RedirectResponse(_comment_anchor(w, comment), status_code=303)


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
    return render(request, "comment_edit.html", comment=c, back=_comment_anchor(web(request), c), error=None,
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
        return render(request, "comment_edit.html", status_code=400, comment=c, back=_comment_anchor(w, c),
                      error=problem, body=body, max_comment=MAX_COMMENT, title="Edit comment · paperfeed")
    if (refused := write_problem(w, user)) is not None:
        return error_page(request, *refused)
    sql.edit_comment(w.pf.store, c.id, user.id, body)
    return RedirectResponse(_comment_anchor(w, c), status_code=303)


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
    return RedirectResponse(_comment_anchor(w, c), status_code=303)


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
        return _need_login(request, _comment_anchor(w, c))
    if roles.is_banned(w.pf.store, user.id):
        return error_page(request, 403, "Your account may no longer take part in discussions.")
    if not w.limiter.allow("comment_vote", f"member:{user.id}"):
        return error_page(request, 429, "Too many votes; wait a minute.")
    sql.toggle_vote(w.pf.store, c.id, user.id)
    return RedirectResponse(_comment_anchor(w, c), status_code=303)


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
        return _need_login(request, _comment_anchor(w, c))
    if not w.limiter.allow("report", f"member:{user.id}"):
        return error_page(request, 429, "Too many reports; wait a few minutes.")
    sql.report(w.pf.store, c.id, user.id, reason.strip()[:MAX_REASON] or "(no reason given)")
    return render(request, "comment_reported.html", back=_comment_anchor(w, c), title="Reported · paperfeed")


# -- moderation ------------------------------------------------------------------------------------


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
        from paperfeed.discussion.render import render as md

        queue.append({"report": r, "comment": c, "html": md(c.body), "writer": roles.handle_of(store, c.user_id),
                      "reporter": roles.handle_of(store, r.user_id), "link": _comment_anchor(w, c),
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


# -- notifications ---------------------------------------------------------------------------------


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
        items.append({"note": n, "writer": roles.handle_of(store, c.user_id), "link": _comment_anchor(w, c),
                      "title": paper.title if paper else "", "excerpt": plain(c.body)[:200] if c.visible else ""})
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
    if read_unsubscribe(_secret(web(request)), t) is None:
        return error_page(request, 400, "This unsubscribe link is not valid.")
    return render(request, "notifications_unsubscribe.html", token=t, done=False, title="Stop emails · paperfeed")


@pages.post("/notifications/unsubscribe", response_class=HTMLResponse)
def unsubscribe(request: Request, t: str | None = None) -> Response:
    """The signed link is the authority (RFC 8058 one-click POSTs it with no cookie): no CSRF token needed."""
    w = web(request)
    uid = read_unsubscribe(_secret(w), t)
    if uid is None:
        return error_page(request, 400, "This unsubscribe link is not valid.")
    notes.set_email(w.pf.store, uid, False)
    return render(request, "notifications_unsubscribe.html", token=t, done=True, title="Stop emails · paperfeed")


# -- feed ------------------------------------------------------------------------------------------


@pages.get("/papers/{paper_id:path}/discussion.{fmt}")
def discussion_feed(request: Request, paper_id: str, fmt: Literal["rss", "atom"]) -> Response:
    """The newest comments of one paper's discussion (text only: Markdown as typed, math as Unicode)."""
    w = web(request)
    found = _paper(w, paper_id)
    if found is None:
        raise HTTPException(404, f"no paper with id {paper_id[:100]!r}")
    pk, pid = found
    paper = w.pf.store.get(pid)
    site = w.settings.site_url()
    page = paper_url(site, pid)
    live = [c for c in sql.thread(w.pf.store, pk) if c.visible][-FEED_SIZE:][::-1]
    fg = FeedGenerator()
    self_url = f"{page}/discussion.{fmt}"
    title = xml_text(f"Discussion: {to_text(paper.title if paper else pid)}")
    fg.id(self_url)
    fg.title(title)
    fg.description(title)
    fg.link(href=self_url, rel="self")
    fg.link(href=page, rel="alternate")
    updated = max((c.edited_at or c.created_at for c in live), default=datetime(1970, 1, 1))
    fg.updated(updated.replace(tzinfo=UTC))
    rss = fmt == "rss"
    for c in live:
        fe = fg.add_entry(order="append")
        url = f"{page}#c-{c.id}"
        fe.id(url)
        fe.guid(url, permalink=True)
        handle = roles.handle_of(w.pf.store, c.user_id)
        text = plain(c.body)
        head = f"{handle}: {text[:80]}"
        fe.title(rss_html(head) if rss else xml_text(head))
        fe.link(href=url)
        if rss:
            fe.description(rss_html(text))
        else:
            fe.summary(xml_text(text), type="text")
        fe.author(name=xml_text(handle))
        fe.published(c.created_at.replace(tzinfo=UTC))
        fe.updated((c.edited_at or c.created_at).replace(tzinfo=UTC))
    return Response(fg.rss_str() if rss else fg.atom_str(), media_type=MEDIA[fmt])


# -- API -------------------------------------------------------------------------------------------


class CommentOut(BaseModel):
    id: int
    paper: str
    parent: int | None
    author: str  # the writer's handle
    author_mark: bool  # the writer has an approved authorship claim on the paper
    state: Literal["visible", "deleted", "hidden"]
    body: str  # Markdown as written ("" once deleted or hidden)
    html: str  # the safe HTML the site shows
    upvotes: int
    created_at: datetime
    edited_at: datetime | None


class CommentIn(BaseModel):
    body: str = Field(min_length=1, max_length=MAX_COMMENT)
    parent: int | None = Field(None, ge=1, le=MAX_ID, description="the comment this replies to")


class CommentEdit(BaseModel):
    body: str = Field(min_length=1, max_length=MAX_COMMENT)


def _out(v: CommentView, paper_id: str) -> CommentOut:
    c = v.comment
    return CommentOut(id=c.id, paper=paper_id, parent=c.parent_id, author=v.handle, author_mark=v.author,
                      state=v.state, body=c.body if c.visible else "", html=str(v.html), upvotes=v.votes,
                      created_at=c.created_at, edited_at=c.edited_at)


def commenter(request: Request, user: Annotated[User, Depends(token_user)]) -> User:
    """A bearer token with the `comment` or `write` scope; 403 for a read-only one."""
    if request.state.token_scope not in ("comment", "write"):
        raise HTTPException(403, "this API token is read-only; commenting needs the comment (or write) scope",
                            headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'})
    if roles.is_banned(web(request).pf.store, user.id):
        raise HTTPException(403, "this account may no longer write in discussions")
    return user


def _limit_writer(w: WebState, user: User) -> None:
    """The per-member comment limit, taken only once the body is valid (a 422 costs nothing)."""
    if (refused := write_problem(w, user)) is not None:
        raise HTTPException(*refused)


@api.get("/papers/{paper_id:path}/comments", response_model=list[CommentOut], summary="A paper's discussion",
         responses=error_responses(404))
def api_comments(request: Request, paper_id: str) -> list[CommentOut]:
    w = web(request)
    found = _paper(w, paper_id)
    if found is None:
        raise HTTPException(404, f"no paper with id {paper_id[:100]!r}")
    pk, pid = found
    return [_out(v, pid) for v in flatten(build(w.pf.store, pk, pid, None))]


@api.post("/papers/{paper_id:path}/comments", response_model=CommentOut, status_code=201,
          summary="Comment on a paper (or reply)", responses=error_responses(400, 401, 403, 404, 429))
async def api_post(request: Request, paper_id: str, body: CommentIn,
                   user: Annotated[User, Depends(commenter)]) -> CommentOut:
    w = web(request)

    def run() -> CommentOut:
        found = _paper(w, paper_id)
        if found is None:
            raise HTTPException(404, f"no paper with id {paper_id[:100]!r}")
        pk, pid = found
        if not body.body.strip():
            raise HTTPException(400, "body: the comment is empty")
        _limit_writer(w, user)
        c = post_comment(w, user, pk, body.body, body.parent)
        if c is None:
            raise HTTPException(400, "parent: no live comment with that id on this paper")
        return _one(w, c, user)

    return await run_in_threadpool(run)


_OTHER_METHODS = ["PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "GET", "POST"]


def _not_allowed(allow: list[str]):  # type: ignore[no-untyped-def]
    """A 405 that names every method the path has (Starlette's names only the first route's)."""
    def refuse() -> None:
        raise HTTPException(405, "Method Not Allowed", headers={"Allow": ", ".join(allow)})

    return refuse


api.add_api_route("/papers/{paper_id:path}/comments", _not_allowed(["GET", "POST"]), include_in_schema=False,
                  methods=[m for m in _OTHER_METHODS if m not in ("GET", "POST")])
api.add_api_route("/comments/{comment_id}", _not_allowed(["PATCH", "DELETE"]), include_in_schema=False,
                  methods=[m for m in _OTHER_METHODS if m not in ("PATCH", "DELETE")])


def _one(w: WebState, c: sql.Comment, user: User | None) -> CommentOut:
    pid = w.pf.store.ids_of([c.paper_pk]).get(c.paper_pk, "")
    views = flatten(build(w.pf.store, c.paper_pk, pid, user.id if user else None))
    return _out(next(v for v in views if v.comment.id == c.id), pid)


@api.patch("/comments/{comment_id}", response_model=CommentOut, summary="Edit your comment",
           responses=error_responses(400, 401, 403, 404, 429))
def api_edit(request: Request, comment_id: CommentId, body: CommentEdit,
             user: Annotated[User, Depends(commenter)]) -> CommentOut:
    w = web(request)
    if not body.body.strip():
        raise HTTPException(400, "body: the comment is empty")
    _limit_writer(w, user)
    if not sql.edit_comment(w.pf.store, comment_id, user.id, body.body):
        raise HTTPException(404, "no such comment of yours")
    c = sql.get_comment(w.pf.store, comment_id)
    assert c is not None
    return _one(w, c, user)


@api.delete("/comments/{comment_id}", status_code=204, summary="Delete your comment",
            responses=error_responses(401, 403, 404))
def api_delete(request: Request, comment_id: CommentId, user: Annotated[User, Depends(token_user)]) -> Response:
    if request.state.token_scope not in ("comment", "write"):
        raise HTTPException(403, "this API token is read-only", headers={"WWW-Authenticate": "Bearer"})
    if not sql.delete_comment(web(request).pf.store, comment_id, user.id):
        raise HTTPException(404, "no such comment of yours")
    return Response(status_code=204)
