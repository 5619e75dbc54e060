"""What the discussion's pages, feed and API share: limits, who may write now, posting a comment (which
records its notifications and wakes the background sender), the thread a page shows.

No routes here, and nothing from the routers: `web/discussion.py` (the paper page's forms),
`web/moderation.py`, `web/notifications.py`, `web/discussion_feed.py` and `web/comments_api.py` import this,
never each other, so none of them can start an import cycle through the `paperfeed.web` package.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from paperfeed.discussion import roles, sender
from paperfeed.discussion.notify import notify_for
from paperfeed.discussion.thread import build, flatten
from paperfeed.store import discussion as sql
from paperfeed.store.accounts import User
from paperfeed.store.dialect import MAX_ROW_ID as MAX_ID
from paperfeed.store.secret import site_secret
from paperfeed.urls import paper_path
from paperfeed.web.context import WebState

MAX_COMMENT = 4000
CommentId = Annotated[int, Path(ge=1, le=MAX_ID)]  # a larger id than the store has is a 422, never a DataError
MAX_REASON = 500
FEED_SIZE = 50
BAD_PARENT = "The comment you replied to is not on this paper, or is gone (deleted or hidden)."


def secret(w: WebState) -> str:
    return w.settings.secret or site_secret(w.pf.store)


def body_problem(body: str) -> str | None:
    if not body.strip():
        return "Write something first: the comment is empty."
    if len(body) > MAX_COMMENT:
        return f"A comment can have at most {MAX_COMMENT:,} characters; this one has {len(body):,}."
    return None


def parent_problem(w: WebState, paper_pk: int, parent: int | None) -> str | None:
    """Why `parent` cannot be replied to on this paper (missing, on another paper, deleted or hidden), or None."""
    if parent is None:
        return None
    c = sql.get_comment(w.pf.store, parent) if 1 <= parent <= MAX_ID else None
    return BAD_PARENT if c is None or c.paper_pk != paper_pk or not c.visible else None


def write_problem(w: WebState, user: User) -> tuple[int, str] | None:
    """(status, message) when the member may not write now: banned (403) or over their rate limit (429)."""
    if roles.is_banned(w.pf.store, user.id):
        return 403, "Your account may no longer write in discussions."
    action = "comment_new" if roles.is_new(user.created_at) else "comment"
    if not w.limiter.allow(action, f"member:{user.id}"):
        return 429, "You are commenting too fast; wait a few minutes and try again."
    return None


def post_comment(w: WebState, user: User, paper_pk: int, body: str, parent: int | None) -> sql.Comment | None:
    """Store the comment and its notifications; their emails go out in the background (discussion/sender.py).
    None when the parent is not a live comment on this paper (checked again in the same transaction)."""
    comment = sql.add_comment(w.pf.store, paper_pk, user.id, body, parent)
    if comment is None:
        return None
    if notify_for(w.pf.store, comment, w.settings.mail is not None) and w.settings.mail is not None:
        sender.poke()
    return comment


def find_paper(w: WebState, paper_id: str) -> tuple[int, str] | None:
    paper = w.pf.store.get(paper_id) if len(paper_id) <= 256 else None
    pk = w.pf.store.pk_of(paper.id) if paper else None
    return (pk, paper.id) if paper and pk is not None else None


def comment_anchor(w: WebState, c: sql.Comment) -> str:
    pid = w.pf.store.ids_of([c.paper_pk]).get(c.paper_pk, "")
    return f"{paper_path(pid)}#c-{c.id}"


def thread_context(w: WebState, pk: int, paper_id: str, user: User | None) -> dict:
    """What paper.html's discussion needs (pages.py adds it to the paper page)."""
    moderator = roles.can_moderate(w.pf.store, user.id if user else None)
    items = flatten(build(w.pf.store, pk, paper_id, user.id if user else None, moderator=moderator))
    return {"comments": items, "comment_count": sum(1 for v in items if v.state == "visible"),
            "can_moderate": moderator, "max_comment": MAX_COMMENT}
