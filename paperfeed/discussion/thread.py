"""A paper's discussion as the page and the API show it: comments in reply order, each with its writer's
handle, the "author" mark, its upvotes and, for the reader, whether it is theirs and whether they voted.

Deleted and hidden comments keep their place (their replies still make sense) with their text, their
writer's handle and their vote count dropped for ordinary readers: "[hidden by a moderator]" and nothing
that would tell who wrote it or how it was received.  A moderator still sees a hidden comment's writer, text
and votes (to review or unhide it); a deleted comment's text is gone for everyone.
Replies deeper than `MAX_DEPTH` are shown at that depth, so a long back-and-forth stays readable on a phone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup

from paperfeed.discussion import roles
from paperfeed.discussion.render import render
from paperfeed.store import discussion as sql
from paperfeed.store.discussion import Comment
from paperfeed.store.papers import Store

MAX_DEPTH = 6


@dataclass
class CommentView:
    comment: Comment
    handle: str
    html: Markup
    votes: int
    voted: bool
    mine: bool
    author: bool
    depth: int
    children: list[CommentView] = field(default_factory=list)

    @property
    def state(self) -> str:
        c = self.comment
        return "deleted" if c.deleted_at else "hidden" if c.hidden_at else "visible"


def build(store: Store, paper_pk: int, paper_id: str, viewer: int | None,
          moderator: bool = False) -> list[CommentView]:
    """The paper's comment trees, oldest thread first; replies oldest first under each comment.
    `moderator`: the viewer may moderate (checked by the caller, roles.can_moderate), so sees hidden ones."""
    comments = sql.thread(store, paper_pk)
    ids = [c.id for c in comments]
    counts = sql.vote_counts(store, ids)
    voted = sql.voted(store, viewer, ids) if viewer is not None else set()
    authors = roles.authors_of(store, paper_pk)
    handles = roles.handles_of(store, {c.user_id for c in comments})
    views: dict[int, CommentView] = {}
    roots: list[CommentView] = []
    for c in comments:
        parent = views.get(c.parent_id) if c.parent_id is not None else None
        shown = c.visible or moderator  # who wrote it, and how it was voted
        text = c.visible or (moderator and c.deleted_at is None)
        v = CommentView(c, handles[c.user_id] if shown else "", render(c.body) if text else Markup(""),
                        counts.get(c.id, 0) if shown else 0, c.id in voted and c.visible,
                        viewer == c.user_id and c.visible, c.user_id in authors and shown,
                        min(MAX_DEPTH, parent.depth + 1) if parent else 0)
        views[c.id] = v
        (parent.children if parent else roots).append(v)
    return roots


def flatten(roots: list[CommentView]) -> list[CommentView]:
    out: list[CommentView] = []

    def walk(vs: list[CommentView]) -> None:
        for v in vs:
            out.append(v)
            walk(v.children)

    walk(roots)
    return out
