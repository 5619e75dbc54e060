"""Upvotes and submissions to a day's list (tables `votes`, `submissions` of migration 0002).

The SQL behind `paperfeed.ranking.community.Community`: one function per question, each in its own
transaction.  Uniqueness (one vote per user per paper, one submission per paper per day) is the
database's job; a violated constraint becomes a plain answer.  Times are naive UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from paperfeed.store.papers import Store
from paperfeed.store.schema import papers, submissions, votes

_CHUNK = 500


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# -- votes ------------------------------------------------------------------------------------------


def toggle_vote(store: Store, user_id: int, paper_pk: int) -> bool:
    """Add the user's vote, or take it back if there was one; True when the user now has a vote."""
    with store.write() as conn:
        gone = conn.execute(delete(votes).where(votes.c.user_id == user_id, votes.c.paper_pk == paper_pk)).rowcount
        if gone:
            return False
        conn.execute(insert(votes).values(user_id=user_id, paper_pk=paper_pk, created_at=utcnow()))
        return True


def vote_counts(store: Store, pks: Sequence[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    with store.read() as conn:
        for i in range(0, len(pks), _CHUNK):
            q = (select(votes.c.paper_pk, func.count()).where(votes.c.paper_pk.in_(list(pks[i : i + _CHUNK])))
                 .group_by(votes.c.paper_pk))
            out.update((r[0], int(r[1])) for r in conn.execute(q))
    return out


def voted(store: Store, user_id: int, pks: Sequence[int]) -> set[int]:
    with store.read() as conn:
        q = select(votes.c.paper_pk).where(votes.c.user_id == user_id, votes.c.paper_pk.in_(list(pks)))
        return {r[0] for r in conn.execute(q)}


def votes_since(store: Store, start: datetime) -> list[tuple[int, datetime]]:
    """(paper_pk, time) of every vote cast at or after `start`: the input of trending."""
    with store.read() as conn:
        q = select(votes.c.paper_pk, votes.c.created_at).where(votes.c.created_at >= start)
        return [(r[0], r[1]) for r in conn.execute(q)]


def user_votes(store: Store, user_id: int, limit: int = 200) -> list[int]:
    """Paper pks the user upvoted, most recent vote first."""
    with store.read() as conn:
        q = (select(votes.c.paper_pk).where(votes.c.user_id == user_id)
             .order_by(votes.c.created_at.desc(), votes.c.paper_pk).limit(limit))
        return [r[0] for r in conn.execute(q)]


def liked_papers(store: Store, user_ids: Sequence[int], per_user: int) -> dict[int, list[int]]:
    """Each account's most recent `per_user` upvoted paper pks, newest vote first (digests' "similar")."""
    ids = sorted(set(user_ids))
    out: dict[int, list[int]] = {uid: [] for uid in ids}
    with store.read() as conn:
        for i in range(0, len(ids), _CHUNK):
            q = (select(votes.c.user_id, votes.c.paper_pk).where(votes.c.user_id.in_(ids[i:i + _CHUNK]))
                 .order_by(votes.c.user_id, votes.c.created_at.desc(), votes.c.paper_pk))
            for uid, pk in conn.execute(q):
                if len(out[uid]) < per_user:
                    out[uid].append(pk)
    return out


# -- submissions ------------------------------------------------------------------------------------


def submit(store: Store, user_id: int, paper_pk: int, day: date) -> bool:
    """Put a paper on a day's list; False when it is already submitted to that day."""
    try:
        with store.write() as conn:
            conn.execute(insert(submissions).values(paper_pk=paper_pk, day=day, user_id=user_id, created_at=utcnow()))
    except IntegrityError:
        return False
    return True


def first_submitters(store: Store, pks: Sequence[int]) -> dict[int, int]:
    """The user id of the first person who submitted each paper (papers nobody submitted are absent)."""
    out: dict[int, int] = {}
    with store.read() as conn:
        q = (select(submissions.c.paper_pk, submissions.c.user_id).where(submissions.c.paper_pk.in_(list(pks)))
             .order_by(submissions.c.created_at.desc()))
        for pk, uid in conn.execute(q):
            out[pk] = uid  # ordered newest first, so the earliest submitter wins
    return out


def user_submissions(store: Store, user_id: int, limit: int = 200) -> list[tuple[int, date]]:
    with store.read() as conn:
        q = (select(submissions.c.paper_pk, submissions.c.day).where(submissions.c.user_id == user_id)
             .order_by(submissions.c.created_at.desc()).limit(limit))
        return [(r[0], r[1]) for r in conn.execute(q)]


def listing_facts(store: Store, pks: Sequence[int]) -> tuple[dict[int, date | None], dict[int, str]]:
    """(listing day, paper id) per pk: what trending's tie-breaks need, without loading abstracts."""
    listed: dict[int, date | None] = {}
    ids: dict[int, str] = {}
    with store.read() as conn:
        for i in range(0, len(pks), _CHUNK):
            q = select(papers.c.pk, papers.c.listed, papers.c.published, papers.c.id).where(
                papers.c.pk.in_(list(pks[i : i + _CHUNK])))
            for pk, lst, pub, pid in conn.execute(q):
                listed[pk], ids[pk] = lst or pub, pid
    return listed, ids


# -- what page caches key on ---------------------------------------------------------------------------


def community_version(store: Store) -> tuple:
    """Changes whenever a vote or a submission is added or removed (one cheap, indexed query)."""
    with store.read() as conn:
        return tuple(conn.execute(select(
            select(func.count()).select_from(votes).scalar_subquery(),
            select(func.max(votes.c.created_at)).scalar_subquery(),
            select(func.count()).select_from(submissions).scalar_subquery(),
            select(func.max(submissions.c.created_at)).scalar_subquery(),
        )).one())
