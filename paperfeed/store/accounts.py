"""Accounts, server-side sessions and API tokens in the store (tables `users`, `sessions`, `api_tokens`).

The only module that speaks SQL about who someone is.  Policy (how long a session lives, what a
password must be, when a log-in is throttled) lives in `paperfeed.accounts`; this module stores and
answers.  Secrets are never stored: sessions and tokens are kept as SHA-256 hashes of 256 random bits
(no slow hash needed for random values), passwords as argon2 hashes made by the caller.
Times are naive UTC, like the rest of the store.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from paperfeed.store.dialect import is_row_id
from paperfeed.store.papers import Store
from paperfeed.store.schema import api_tokens, sessions, users


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def secret_hash(secret: str) -> str:
    """How a session id or an API token is kept: its SHA-256 (both are 256 random bits)."""
    return hashlib.sha256(secret.encode()).hexdigest()


token_hash = secret_hash  # the name the API-token code has always used


def normalise_email(email: str) -> str:
    """The key an address is stored under: stripped and lower-case (callers validate it first)."""
    return email.strip().lower()


@dataclass(frozen=True)
class User:
    id: int
    email: str
    password_hash: str
    created_at: datetime
    email_verified_at: datetime | None = None
    password_changed_at: datetime | None = None
    chosen_handle: str | None = None  # 0005_people: read with the row (`select(users)`), no query of its own

    @property
    def handle(self) -> str:
        """What the site shows for this user: the handle they chose, else `member<id>`; never the email
        (that would reveal who has an account)."""
        return self.chosen_handle or f"member{self.id}"

    @property
    def verified(self) -> bool:
        return self.email_verified_at is not None


@dataclass(frozen=True)
class ApiToken:
    id: int
    name: str
    created_at: datetime
    revoked_at: datetime | None
    scope: str = "write"
    expires_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass(frozen=True)
class SessionRecord:
    user_id: int
    created_at: datetime
    last_seen_at: datetime
    user_agent: str
    revoked_at: datetime | None


def _user(r) -> User:  # type: ignore[no-untyped-def]
    return User(r.id, r.email, r.password_hash, r.created_at, r.email_verified_at, r.password_changed_at,
                getattr(r, "handle", None))


def _token(r) -> ApiToken:  # type: ignore[no-untyped-def]
    return ApiToken(r.id, r.name, r.created_at, r.revoked_at, r.scope, r.expires_at)


class AccountStore:
    def __init__(self, store: Store):
        self.store = store

    # -- users ----------------------------------------------------------------------------------------

    def create_user(self, email: str, password_hash: str, verified: bool = False) -> User | None:
        """The new user, or None when the email already has an account."""
        now = utcnow()
        values = {"email": normalise_email(email), "password_hash": password_hash, "created_at": now,
                  "email_verified_at": now if verified else None}
        try:
            with self.store.write() as conn:
                uid = conn.execute(insert(users).values(**values)).inserted_primary_key[0]
        except IntegrityError:
            return None
        return User(int(uid), values["email"], password_hash, now, values["email_verified_at"])

    def user_by_email(self, email: str) -> User | None:
        with self.store.read() as conn:
            r = conn.execute(select(users).where(users.c.email == normalise_email(email))).first()
        return _user(r) if r else None

    def user(self, user_id: int) -> User | None:
        with self.store.read() as conn:
            r = conn.execute(select(users).where(users.c.id == user_id)).first()
        return _user(r) if r else None

    def set_password_hash(self, user_id: int, password_hash: str, changed: bool = False) -> None:
        """Store a new hash: a re-hash with raised argon2 parameters, or (`changed`) a new password."""
        values: dict = {"password_hash": password_hash}
        if changed:
            values["password_changed_at"] = utcnow()
        with self.store.write() as conn:
            conn.execute(update(users).where(users.c.id == user_id).values(**values))

    def mark_verified(self, user_id: int, password_hash: str) -> bool:
        """Verify the address, only while the password is still the one the link was issued for;
        True when the account is verified now (also when it already was)."""
        with self.store.write() as conn:
            conn.execute(update(users).where(users.c.id == user_id, users.c.password_hash == password_hash,
                                             users.c.email_verified_at.is_(None))
                         .values(email_verified_at=utcnow()))
            r = conn.execute(select(users.c.email_verified_at).where(users.c.id == user_id)).first()
        return r is not None and r[0] is not None

    # -- sessions -------------------------------------------------------------------------------------

    def create_session(self, user_id: int, id_hash: str, user_agent: str) -> None:
        now = utcnow()
        with self.store.write() as conn:
            conn.execute(insert(sessions).values(id_hash=id_hash, user_id=user_id, created_at=now,
                                                 last_seen_at=now, user_agent=user_agent[:200]))

    def session(self, id_hash: str) -> SessionRecord | None:
        with self.store.read() as conn:
            r = conn.execute(select(sessions).where(sessions.c.id_hash == id_hash)).first()
        return SessionRecord(r.user_id, r.created_at, r.last_seen_at, r.user_agent, r.revoked_at) if r else None

    def touch_session(self, id_hash: str, now: datetime) -> None:
        with self.store.write() as conn:
            conn.execute(update(sessions).where(sessions.c.id_hash == id_hash, sessions.c.revoked_at.is_(None))
                         .values(last_seen_at=now))

    def revoke_session(self, id_hash: str) -> None:
        with self.store.write() as conn:
            conn.execute(update(sessions).where(sessions.c.id_hash == id_hash, sessions.c.revoked_at.is_(None))
                         .values(revoked_at=utcnow()))

    def revoke_sessions(self, user_id: int, keep: str | None = None) -> int:
        """Revoke every live session of the user but `keep` (a session id hash); how many were revoked."""
        q = update(sessions).where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
        if keep is not None:
            q = q.where(sessions.c.id_hash != keep)
        with self.store.write() as conn:
            return int(conn.execute(q.values(revoked_at=utcnow())).rowcount)

    def purge_sessions(self, created_before: datetime, revoked_before: datetime) -> int:
        """Delete sessions past any possible use: older than the absolute limit, or revoked a while ago."""
        with self.store.write() as conn:
            return int(conn.execute(delete(sessions).where(or_(
                sessions.c.created_at < created_before, sessions.c.revoked_at < revoked_before))).rowcount)

    def live_sessions(self, user_id: int) -> list[SessionRecord]:
        """The user's unrevoked sessions, most recently used first (expired ones are revoked when next seen)."""
        with self.store.read() as conn:
            rows = conn.execute(select(sessions).where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
                                .order_by(sessions.c.last_seen_at.desc())).all()
        return [SessionRecord(r.user_id, r.created_at, r.last_seen_at, r.user_agent, r.revoked_at) for r in rows]

    # -- API tokens -----------------------------------------------------------------------------------

    def create_token(self, user_id: int, name: str, token: str, scope: str = "write",
                     expires_at: datetime | None = None) -> None:
        """Keep a new token (its hash) for the user; the caller made `token` and shows it once."""
        with self.store.write() as conn:
            conn.execute(insert(api_tokens).values(user_id=user_id, name=name.strip()[:100] or "token",
                                                   token_hash=secret_hash(token), created_at=utcnow(),
                                                   scope=scope, expires_at=expires_at))

    def tokens(self, user_id: int) -> list[ApiToken]:
        with self.store.read() as conn:
            q = select(api_tokens).where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.id.desc())
            return [_token(r) for r in conn.execute(q)]

    def revoke_token(self, user_id: int, token_id: int) -> bool:
        """Revoke one of the user's own tokens; False when it is not theirs or already revoked."""
        if not is_row_id(token_id):
            return False
        with self.store.write() as conn:
            return bool(conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id, api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            ).rowcount)

    def token_owner(self, token: str) -> tuple[User, ApiToken] | None:
        """The owner of an unrevoked token and the token (the caller checks expiry and scope)."""
        with self.store.read() as conn:
            r = conn.execute(select(api_tokens).where(api_tokens.c.token_hash == secret_hash(token),
                                                      api_tokens.c.revoked_at.is_(None))).first()
            if r is None:
                return None
            u = conn.execute(select(users).where(users.c.id == r.user_id)).first()
        return (_user(u), _token(r)) if u else None
