"""Community signals in the store: upvotes and submissions (tables of migration 0002).

One small class over the store's engine, so the web app and the feeds never write SQL of their own.
Accounts, sessions and API tokens are `paperfeed.store.accounts` (policy: `paperfeed.accounts`).
Uniqueness (one vote per user per paper, one submission per paper per day) is the database's job;
these methods only translate a violated constraint into a plain answer.  Times are naive UTC.
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


class Community:
    def __init__(self, store: Store):
        self.store = store

    # -- votes ------------------------------------------------------------------------------------

    def toggle_vote(self, user_id: int, paper_pk: int) -> bool:
        """Add the user's vote, or take it back if there was one; True when the user now has a vote."""
        with self.store.write() as conn:
            gone = conn.execute(
                delete(votes).where(votes.c.user_id == user_id, votes.c.paper_pk == paper_pk)
            ).rowcount
            if gone:
                return False
            conn.execute(insert(votes).values(user_id=user_id, paper_pk=paper_pk, created_at=utcnow()))
            return True

    def vote_counts(self, pks: Sequence[int]) -> dict[int, int]:
        out: dict[int, int] = {}
        with self.store.read() as conn:
            for i in range(0, len(pks), _CHUNK):
                q = (select(votes.c.paper_pk, func.count()).where(votes.c.paper_pk.in_(list(pks[i : i + _CHUNK])))
                     .group_by(votes.c.paper_pk))
                out.update((r[0], int(r[1])) for r in conn.execute(q))
        return out

    def voted(self, user_id: int | None, pks: Sequence[int]) -> set[int]:
        """Which of `pks` this user has upvoted (empty for an anonymous visitor)."""
        if user_id is None or not pks:
            return set()
        with self.store.read() as conn:
            q = select(votes.c.paper_pk).where(votes.c.user_id == user_id, votes.c.paper_pk.in_(list(pks)))
            return {r[0] for r in conn.execute(q)}

    def votes_since(self, start: datetime) -> list[tuple[int, datetime]]:
        """(paper_pk, time) of every vote cast at or after `start`: the input of trending."""
        with self.store.read() as conn:
            q = select(votes.c.paper_pk, votes.c.created_at).where(votes.c.created_at >= start)
            return [(r[0], r[1]) for r in conn.execute(q)]

    def user_votes(self, user_id: int, limit: int = 200) -> list[int]:
        """Paper pks the user upvoted, most recent vote first."""
        with self.store.read() as conn:
            q = (select(votes.c.paper_pk).where(votes.c.user_id == user_id)
                 .order_by(votes.c.created_at.desc(), votes.c.paper_pk).limit(limit))
            return [r[0] for r in conn.execute(q)]

    # -- submissions ------------------------------------------------------------------------------

    def submit(self, user_id: int, paper_pk: int, day: date) -> bool:
        """Put a paper on a day's list; False when it is already submitted to that day."""
        try:
            with self.store.write() as conn:
                conn.execute(insert(submissions).values(paper_pk=paper_pk, day=day, user_id=user_id,
                                                        created_at=utcnow()))
        except IntegrityError:
            return False
        return True

    def submitters(self, pks: Sequence[int]) -> dict[int, str]:
        """The handle of the first person who submitted each paper (papers nobody submitted are absent)."""
        out: dict[int, str] = {}
        if not pks:
            return out
        with self.store.read() as conn:
            q = (select(submissions.c.paper_pk, submissions.c.user_id).where(submissions.c.paper_pk.in_(list(pks)))
                 .order_by(submissions.c.created_at.desc()))
            for pk, uid in conn.execute(q):
                out[pk] = f"member{uid}"  # ordered newest first, so the earliest submitter wins
        return out

    def user_submissions(self, user_id: int, limit: int = 200) -> list[tuple[int, date]]:
        with self.store.read() as conn:
            q = (select(submissions.c.paper_pk, submissions.c.day).where(submissions.c.user_id == user_id)
                 .order_by(submissions.c.created_at.desc()).limit(limit))
            return [(r[0], r[1]) for r in conn.execute(q)]

    def listing_facts(self, pks: Sequence[int]) -> tuple[dict[int, date | None], dict[int, str]]:
        """(listing day, paper id) per pk: what trending's tie-breaks need, without loading abstracts."""
        listed: dict[int, date | None] = {}
        ids: dict[int, str] = {}
        with self.store.read() as conn:
            for i in range(0, len(pks), _CHUNK):
                q = select(papers.c.pk, papers.c.listed, papers.c.published, papers.c.id).where(
                    papers.c.pk.in_(list(pks[i : i + _CHUNK])))
                for pk, lst, pub, pid in conn.execute(q):
                    listed[pk], ids[pk] = lst or pub, pid
        return listed, ids
