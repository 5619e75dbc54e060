"""Comments under papers, their upvotes, reports and the moderation log (tables of migration 0006).

The only module that speaks SQL about the discussion (notifications: `store/notifications.py`).  Policy
(who may hide, how fast a new account may post, how Markdown becomes HTML) lives in `paperfeed.discussion`;
this module stores and answers.  A comment is never removed as a row by the site: deleting or hiding sets a
stamp, so a thread keeps its shape and its replies.  Times are naive UTC, like the rest of the store.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from paperfeed.store.papers import Store
from paperfeed.store.schema import comment_reports, comment_votes, comments, kv, moderation_log, papers

VERSION_KEY = "discussion.version"

_CHUNK = 500


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Comment:
    id: int
    paper_pk: int
    user_id: int
    parent_id: int | None
    body: str
    created_at: datetime
    edited_at: datetime | None = None
    deleted_at: datetime | None = None
    hidden_at: datetime | None = None

    @property
    def visible(self) -> bool:
        """Shown to readers: neither deleted nor hidden by a moderator."""
        return self.deleted_at is None and self.hidden_at is None


@dataclass(frozen=True)
class Report:
    id: int
    comment_id: int
    user_id: int
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class LogEntry:
    id: int
    actor_id: int
    action: str
    comment_id: int | None
    target_user_id: int | None
    note: str
    created_at: datetime


def _comment(r) -> Comment:  # type: ignore[no-untyped-def]
    return Comment(r.id, r.paper_pk, r.user_id, r.parent_id, r.body, r.created_at, r.edited_at, r.deleted_at,
                   r.hidden_at)


_LIVE = and_(comments.c.deleted_at.is_(None), comments.c.hidden_at.is_(None))


# -- comments ---------------------------------------------------------------------------------------


def add_comment(store: Store, paper_pk: int, user_id: int, body: str, parent_id: int | None = None) -> Comment | None:
    """The new comment, or None when the parent is not a live comment on the same paper."""
    now = utcnow()
    with store.write() as conn:
        if parent_id is not None:
            parent = conn.execute(select(comments.c.paper_pk).where(comments.c.id == parent_id, _LIVE)).first()
            if parent is None or parent.paper_pk != paper_pk:
                return None
        cid = conn.execute(insert(comments).values(paper_pk=paper_pk, user_id=user_id, parent_id=parent_id,
                                                   body=body, created_at=now)).inserted_primary_key
        _bump(conn)
    return Comment(int(cid[0]) if cid else 0, paper_pk, user_id, parent_id, body, now)


def get_comment(store: Store, comment_id: int) -> Comment | None:
    with store.read() as conn:
        r = conn.execute(select(comments).where(comments.c.id == comment_id)).first()
    return _comment(r) if r else None


def thread(store: Store, paper_pk: int) -> list[Comment]:
    """Every comment on the paper, oldest first (deleted and hidden ones too: the caller shows a mark)."""
    with store.read() as conn:
        rows = conn.execute(select(comments).where(comments.c.paper_pk == paper_pk).order_by(comments.c.id)).all()
    return [_comment(r) for r in rows]


def edit_comment(store: Store, comment_id: int, user_id: int, body: str) -> bool:
    """Replace the text of the writer's own live comment and stamp it edited; False otherwise."""
    with store.write() as conn:
        _bump(conn)
        return bool(conn.execute(update(comments).where(comments.c.id == comment_id, comments.c.user_id == user_id,
                                                        _LIVE).values(body=body, edited_at=utcnow())).rowcount)


def delete_comment(store: Store, comment_id: int, user_id: int) -> bool:
    """The writer deletes their own comment (its text is dropped: "deleted" is not "hidden"); False otherwise."""
    with store.write() as conn:
        _bump(conn)
        return bool(conn.execute(update(comments).where(comments.c.id == comment_id, comments.c.user_id == user_id,
                                                        comments.c.deleted_at.is_(None))
                                 .values(body="", deleted_at=utcnow())).rowcount)


def comment_counts(store: Store, pks: Sequence[int]) -> dict[int, int]:
    """Live comments per paper (what a card and the API show)."""
    out: dict[int, int] = {}
    with store.read() as conn:
        for i in range(0, len(pks), _CHUNK):
            q = (select(comments.c.paper_pk, func.count()).where(comments.c.paper_pk.in_(list(pks[i : i + _CHUNK])),
                                                                  _LIVE).group_by(comments.c.paper_pk))
            out.update((r[0], int(r[1])) for r in conn.execute(q))
    return out


def discussion_version(store: Store) -> tuple:
    """Changes whenever a comment is added, edited, deleted, hidden or upvoted: part of the key of every cached
    page (cards show comment counts).  One primary-key read of the stamp each write sets (`_bump`): aggregates
    over the comment tables instead cost 5.7 ms CPU per cached page with 10,000 comments (bench/discussion_cost.py)."""
    with store.read() as conn:
        v = conn.execute(select(kv.c.value).where(kv.c.key == VERSION_KEY)).scalar()
    return (v,)


def _bump(conn: Connection) -> None:
    """A new random stamp, in the writer's transaction: an UPDATE of the one row (never an insert, so concurrent
    writers on PostgreSQL queue on its row lock instead of colliding on the key); any two writes differ."""
    conn.execute(update(kv).where(kv.c.key == VERSION_KEY).values(value=json.dumps({"v": uuid.uuid4().hex})))


def comments_by(store: Store, user_id: int, limit: int = 20) -> list[Comment]:
    """A member's newest live comments (for a profile page)."""
    with store.read() as conn:
        rows = conn.execute(select(comments).where(comments.c.user_id == user_id, _LIVE)
                            .order_by(comments.c.id.desc()).limit(limit)).all()
    return [_comment(r) for r in rows]


@dataclass(frozen=True)
class RecentComment:
    """A member's comment as their profile lists it (web/profiles.py): the paper, an excerpt of the Markdown as
    typed (plain text; the page escapes it), when."""

    comment_id: int
    paper_id: str
    paper_title: str
    excerpt: str
    created_at: datetime


def recent_comments_by(store: Store, member_id: int, limit: int = 20) -> list[RecentComment]:
    """The member's newest visible comments (not deleted, not hidden), with their papers' ids and titles."""
    with store.read() as conn:
        rows = conn.execute(select(comments.c.id, comments.c.body, comments.c.created_at, papers.c.id.label("pid"),
                                   papers.c.title).join(papers, papers.c.pk == comments.c.paper_pk)
                            .where(comments.c.user_id == member_id, _LIVE)
                            .order_by(comments.c.id.desc()).limit(limit)).all()
    return [RecentComment(r.id, r.pid, r.title, " ".join(r.body.split())[:200], r.created_at) for r in rows]


def count_since(store: Store, user_id: int, since: datetime) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).where(comments.c.user_id == user_id,
                                                           comments.c.created_at >= since)).scalar() or 0)


# -- votes ------------------------------------------------------------------------------------------


def toggle_vote(store: Store, comment_id: int, user_id: int) -> bool:
    """Add the member's upvote on the comment, or take it back; True when they now have one."""
    try:
        with store.write() as conn:
            _bump(conn)
            if conn.execute(delete(comment_votes).where(comment_votes.c.comment_id == comment_id,
                                                        comment_votes.c.user_id == user_id)).rowcount:
                return False
            conn.execute(insert(comment_votes).values(comment_id=comment_id, user_id=user_id, created_at=utcnow()))
    except IntegrityError:  # a concurrent request of the same member added it first: they have a vote
        pass
    return True


def vote_counts(store: Store, comment_ids: Sequence[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    with store.read() as conn:
        for i in range(0, len(comment_ids), _CHUNK):
            q = (select(comment_votes.c.comment_id, func.count())
                 .where(comment_votes.c.comment_id.in_(list(comment_ids[i : i + _CHUNK])))
                 .group_by(comment_votes.c.comment_id))
            out.update((r[0], int(r[1])) for r in conn.execute(q))
    return out


def voted(store: Store, user_id: int, comment_ids: Sequence[int]) -> set[int]:
    if not comment_ids:
        return set()
    with store.read() as conn:
        q = select(comment_votes.c.comment_id).where(comment_votes.c.user_id == user_id,
                                                     comment_votes.c.comment_id.in_(list(comment_ids)))
        return {r[0] for r in conn.execute(q)}


# -- reports and moderation -------------------------------------------------------------------------


def report(store: Store, comment_id: int, user_id: int, reason: str) -> bool:
    """File a report; False when this member already reported this comment (one report each)."""
    try:
        with store.write() as conn:
            conn.execute(insert(comment_reports).values(comment_id=comment_id, user_id=user_id, reason=reason[:500],
                                                        created_at=utcnow()))
    except IntegrityError:
        return False
    return True


def open_reports(store: Store, limit: int = 200) -> list[Report]:
    """Unresolved reports, oldest first: the moderators' queue."""
    with store.read() as conn:
        rows = conn.execute(select(comment_reports).where(comment_reports.c.resolved_at.is_(None))
                            .order_by(comment_reports.c.id).limit(limit)).all()
    return [Report(r.id, r.comment_id, r.user_id, r.reason, r.created_at) for r in rows]


def moderate(store: Store, actor_id: int, action: str, comment_id: int, note: str = "") -> bool:
    """Hide, unhide or delete a comment, or dismiss its reports, as a moderator: the change, the resolution of
    the comment's open reports and the log entry in one transaction.  False when there is nothing to do."""
    now = utcnow()
    where = comments.c.id == comment_id
    changes: dict[str, tuple[Any, dict[str, Any]]] = {
        "hide": (comments.c.hidden_at.is_(None), {"hidden_at": now, "hidden_by": actor_id}),
        "unhide": (comments.c.hidden_at.is_not(None), {"hidden_at": None, "hidden_by": None}),
        "delete": (comments.c.deleted_at.is_(None), {"deleted_at": now, "body": ""}),
    }
    if action not in (*changes, "dismiss"):
        raise ValueError(f"unknown moderation action {action!r}")
    with store.write() as conn:
        target = conn.execute(select(comments.c.user_id).where(where)).first()
        if target is None:
            return False
        _bump(conn)
        if action in changes:
            cond, values = changes[action]
            if not conn.execute(update(comments).where(where, cond).values(**values)).rowcount:
                return False
        conn.execute(update(comment_reports).where(comment_reports.c.comment_id == comment_id,
                                                   comment_reports.c.resolved_at.is_(None))
                     .values(resolved_at=now, resolved_by=actor_id))
        conn.execute(insert(moderation_log).values(actor_id=actor_id, action=action, comment_id=comment_id,
                                                   target_user_id=target.user_id, note=note[:500], created_at=now))
    return True


def log_action(store: Store, actor_id: int, action: str, target_user_id: int | None = None,
               comment_id: int | None = None, note: str = "") -> None:
    """A moderation log entry for an action taken elsewhere (a ban: `store/people.py`)."""
    with store.write() as conn:
        conn.execute(insert(moderation_log).values(actor_id=actor_id, action=action, comment_id=comment_id,
                                                   target_user_id=target_user_id, note=note[:500],
                                                   created_at=utcnow()))


def moderation_entries(store: Store, limit: int = 200) -> list[LogEntry]:
    with store.read() as conn:
        rows = conn.execute(select(moderation_log).order_by(moderation_log.c.id.desc()).limit(limit)).all()
    return [LogEntry(r.id, r.actor_id, r.action, r.comment_id, r.target_user_id, r.note, r.created_at) for r in rows]
