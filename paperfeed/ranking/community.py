"""Community signals in the store: accounts, upvotes and submissions (tables of migration 0002).

One small class over the store's engine, so the web app (and later the API tokens and feeds)
never write SQL of their own.  Uniqueness (one vote per user per paper, one submission per
paper per day, one account per email) is the database's job; these methods only translate
a violated constraint into a plain answer.  Times are naive UTC, like the rest of the store.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from paperfeed.store import community as community_sql
from paperfeed.store.papers import Store
from paperfeed.store.schema import api_tokens, users


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class User:
    id: int
    email: str
    password_hash: str
    created_at: datetime

    @property
    def handle(self) -> str:
        """What the site shows for this user: never the email (that would reveal who has an account)."""
        return f"member{self.id}"


@dataclass(frozen=True)
class ApiToken:
    id: int
    name: str
    created_at: datetime
    revoked_at: datetime | None


def token_hash(token: str) -> str:
    """Tokens are 256 random bits, so a plain SHA-256 is enough (no slow hash needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_email(email: str) -> str:
    return email.strip().lower()


class Community:
    def __init__(self, store: Store):
        self.store = store

    # -- accounts ---------------------------------------------------------------------------------

    def create_user(self, email: str, password_hash: str) -> User | None:
        """The new user, or None when the email already has an account."""
        now = utcnow()
        try:
            with self.store.write() as conn:
                uid = conn.execute(
                    insert(users).values(email=normalise_email(email), password_hash=password_hash, created_at=now)
                ).inserted_primary_key[0]
        except IntegrityError:
            return None
        return User(int(uid), normalise_email(email), password_hash, now)

    def user_by_email(self, email: str) -> User | None:
        with self.store.read() as conn:
            r = conn.execute(select(users).where(users.c.email == normalise_email(email))).first()
        return User(r.id, r.email, r.password_hash, r.created_at) if r else None

    def user(self, user_id: int) -> User | None:
        with self.store.read() as conn:
            r = conn.execute(select(users).where(users.c.id == user_id)).first()
        return User(r.id, r.email, r.password_hash, r.created_at) if r else None

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Store a re-hashed password (argon2 parameters raised since it was set)."""
        with self.store.write() as conn:
            conn.execute(users.update().where(users.c.id == user_id).values(password_hash=password_hash))

    # -- API tokens -------------------------------------------------------------------------------

    def create_token(self, user_id: int, name: str) -> str:
        """A new token for the user, returned once: only its hash is stored."""
        token = "pf_" + secrets.token_urlsafe(32)
        with self.store.write() as conn:
            conn.execute(insert(api_tokens).values(user_id=user_id, name=name.strip()[:100] or "token",
                                                   token_hash=token_hash(token), created_at=utcnow()))
        return token

    def tokens(self, user_id: int) -> list[ApiToken]:
        with self.store.read() as conn:
            q = select(api_tokens).where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.id.desc())
            return [ApiToken(r.id, r.name, r.created_at, r.revoked_at) for r in conn.execute(q)]

    def revoke_token(self, user_id: int, token_id: int) -> bool:
        """Revoke one of the user's own tokens; False when it is not theirs or already revoked."""
        with self.store.write() as conn:
            return bool(conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id, api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            ).rowcount)

    def user_for_token(self, token: str) -> User | None:
        """The owner of a live (unrevoked) token."""
        with self.store.read() as conn:
            r = conn.execute(
                select(users).join(api_tokens, api_tokens.c.user_id == users.c.id)
                .where(api_tokens.c.token_hash == token_hash(token), api_tokens.c.revoked_at.is_(None))
            ).first()
        return User(r.id, r.email, r.password_hash, r.created_at) if r else None

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
        return {pk: f"member{uid}" for pk, uid in community_sql.first_submitters(self.store, pks).items()}

    def user_submissions(self, user_id: int, limit: int = 200) -> list[tuple[int, date]]:
        return community_sql.user_submissions(self.store, user_id, limit)

    def listing_facts(self, pks: Sequence[int]) -> tuple[dict[int, date | None], dict[int, str]]:
        """(listing day, paper id) per pk: what trending's tie-breaks need, without loading abstracts."""
        return community_sql.listing_facts(self.store, pks)
