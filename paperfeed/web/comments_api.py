"""The comments API: list a paper's discussion, post (or reply), edit and delete your own comment.

Writing takes a bearer token with the `comment` (or `write`) scope (web/tokens.py); a read-only one is a
403 with `insufficient_scope`.  No CSRF: no cookie authorises these requests.  The per-member limits are the
site's (web/comments.py: banned 403, too fast 429), taken only once the body is valid (a 422 costs nothing).
A reply to a comment that is missing, on another paper, deleted or hidden is a 400 naming `parent`.  The
list is the public view: a hidden or deleted comment has an empty `author`, `body` and `html` and 0 upvotes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from paperfeed.discussion import roles
from paperfeed.discussion.thread import CommentView, build, flatten
from paperfeed.store import discussion as sql
from paperfeed.store.accounts import User
from paperfeed.web.api import error_responses
from paperfeed.web.comments import (
    MAX_COMMENT,
    MAX_ID,
    CommentId,
    find_paper,
    parent_problem,
    post_comment,
    write_problem,
)
from paperfeed.web.context import WebState, web
from paperfeed.web.tokens import token_user

api = APIRouter(prefix="/api", tags=["discussion"])



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
    found = find_paper(w, paper_id)
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
        found = find_paper(w, paper_id)
        if found is None:
            raise HTTPException(404, f"no paper with id {paper_id[:100]!r}")
        pk, pid = found
        if not body.body.strip():
            raise HTTPException(400, "body: the comment is empty")
        if parent_problem(w, pk, body.parent) is not None:
            raise HTTPException(400, "parent: no live comment with that id on this paper")
        _limit_writer(w, user)
        c = post_comment(w, user, pk, body.body, body.parent)
        if c is None:  # the parent went away between the check and the insert
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
