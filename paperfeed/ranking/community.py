"""Community signals in the store: upvotes and submissions (tables of migration 0002).

One small class over the store's engine, so the web app and the feeds never write SQL of their own.
Accounts, sessions and API tokens are `paperfeed.store.accounts` (policy: `paperfeed.accounts`).
Uniqueness (one vote per user per paper, one submission per paper per day) is the database's job;
these methods only translate a violated constraint into a plain answer.  Times are naive UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

from paperfeed.store import community as community_sql
from paperfeed.store import people as people_sql
from paperfeed.store.papers import Store


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Community:
    def __init__(self, store: Store):
        self.store = store

    # -- votes ------------------------------------------------------------------------------------

    def toggle_vote(self, user_id: int, paper_pk: int) -> bool:
        """Add the user's vote, or take it back if there was one; True when the user now has a vote."""
        return community_sql.toggle_vote(self.store, user_id, paper_pk)

    def vote_counts(self, pks: Sequence[int]) -> dict[int, int]:
        return community_sql.vote_counts(self.store, pks)

    def voted(self, user_id: int | None, pks: Sequence[int]) -> set[int]:
        """Which of `pks` this user has upvoted (empty for an anonymous visitor)."""
        if user_id is None or not pks:
            return set()
        return community_sql.voted(self.store, user_id, pks)

    def votes_since(self, start: datetime) -> list[tuple[int, datetime]]:
        """(paper_pk, time) of every vote cast at or after `start`: the input of trending."""
        return community_sql.votes_since(self.store, start)

    def user_votes(self, user_id: int, limit: int = 200) -> list[int]:
        """Paper pks the user upvoted, most recent vote first."""
        return community_sql.user_votes(self.store, user_id, limit)

    # -- submissions ------------------------------------------------------------------------------

    def submit(self, user_id: int, paper_pk: int, day: date) -> bool:
        """Put a paper on a day's list; False when it is already submitted to that day."""
        return community_sql.submit(self.store, user_id, paper_pk, day)

    def submitters(self, pks: Sequence[int]) -> dict[int, str]:
        """The handle of the first person who submitted each paper (papers nobody submitted are absent)."""
        if not pks:
            return {}
        first = community_sql.first_submitters(self.store, pks)
        chosen = people_sql.handles_of(self.store, first.values())  # one query: chosen handles, else member<id>
        return {pk: chosen.get(uid) or f"member{uid}" for pk, uid in first.items()}

    def user_submissions(self, user_id: int, limit: int = 200) -> list[tuple[int, date]]:
        return community_sql.user_submissions(self.store, user_id, limit)

    def listing_facts(self, pks: Sequence[int]) -> tuple[dict[int, date | None], dict[int, str]]:
        """(listing day, paper id) per pk: what trending's tie-breaks need, without loading abstracts."""
        return community_sql.listing_facts(self.store, pks)
