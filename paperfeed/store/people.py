"""Members as people (handles, profiles, roles, bans) and author claims (migration 0005_people).

The only module that speaks SQL about who a member is in public and what they authored.  Policy lives
elsewhere: what a valid handle is and its confusable skeleton in `paperfeed.people.handles`, when a claim
is approved automatically in `paperfeed.people.claims`.  Uniqueness is the database's job: `handle_key`
(the skeleton) is unique, and at most one claim per (paper, author) can be approved (a partial unique
index), so two members racing for one handle or one author name get one winner and a plain False.

Nothing here returns an email address: `Member` has none, so a page that renders a `Member` cannot leak one.
Times are naive UTC.  Functions take the `Store` first, like `store/community.py`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from paperfeed.store.dialect import insert_replace
from paperfeed.store.discussion import _bump as bump_discussion_version
from paperfeed.store.papers import Store
from paperfeed.store.schema import author_claims, claim_rules, kv, submissions, users

ROLES = ("member", "moderator", "operator")
CLAIM_STATUSES = ("pending", "approved", "rejected")
_CHUNK = 500
VERSION_KEY = "people.version"


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Member:
    """What may be said about a member in public (plus role and ban state, for the site's own checks)."""

    id: int
    handle: str | None
    display_name: str | None
    bio: str | None
    links: list[str] = field(default_factory=list)
    role: str = "member"
    banned_at: datetime | None = None
    verified: bool = False
    created_at: datetime | None = None

    @property
    def shown_handle(self) -> str:
        """The handle, or `member<id>` (what the site showed before handles) until one is chosen."""
        return self.handle or f"member{self.id}"

    @property
    def name(self) -> str:
        return self.display_name or self.shown_handle

    @property
    def public(self) -> bool:
        """Has a public profile page: a chosen handle, a verified email, not banned."""
        return self.handle is not None and self.verified and self.banned_at is None


@dataclass(frozen=True)
class Claim:
    id: int
    user_id: int
    paper_pk: int
    author_name: str
    author_key: str
    status: str
    created_at: datetime
    decided_by: int | None
    decided_at: datetime | None
    reason: str | None


@dataclass(frozen=True)
class ClaimRule:
    id: int
    email_domain: str
    author_pattern: str
    created_at: datetime
    created_by: str


_MEMBER_COLS = (users.c.id, users.c.handle, users.c.display_name, users.c.bio, users.c.links, users.c.role,
                users.c.banned_at, users.c.email_verified_at, users.c.created_at)


def _member(r) -> Member:  # type: ignore[no-untyped-def]
    try:
        links = [str(u) for u in json.loads(r.links or "[]")]
    except ValueError:
        links = []
    return Member(r.id, r.handle, r.display_name, r.bio, links, r.role or "member", r.banned_at,
                  r.email_verified_at is not None, r.created_at)


def _claim(r) -> Claim:  # type: ignore[no-untyped-def]
    return Claim(r.id, r.user_id, r.paper_pk, r.author_name, r.author_key, r.status, r.created_at,
                 r.decided_by, r.decided_at, r.reason)


# -- change stamp -----------------------------------------------------------------------------------------


def people_version(store: Store) -> tuple:
    """Changes whenever what pages print about people changes (a handle, a profile, a decided claim, a ban):
    part of the key of every cached page, since cards link claimed author names to profiles.  One primary-key
    read of the stamp `_bump` writes, like `discussion.discussion_version` (no migration: the row is upserted
    by the first write, and a missing row reads as None)."""
    with store.read() as conn:
        return (conn.execute(select(kv.c.value).where(kv.c.key == VERSION_KEY)).scalar(),)


def _bump(conn: Connection) -> None:
    """A new random stamp in the writer's transaction (an upsert: ON CONFLICT DO UPDATE / INSERT OR REPLACE)."""
    stamp = json.dumps({"v": uuid.uuid4().hex})
    conn.execute(insert_replace(conn, kv, ["key"]), [{"key": VERSION_KEY, "value": stamp}])


# -- members ----------------------------------------------------------------------------------------------


def member(store: Store, member_id: int) -> Member | None:
    with store.read() as conn:
        r = conn.execute(select(*_MEMBER_COLS).where(users.c.id == member_id)).first()
    return _member(r) if r else None


def member_by_handle(store: Store, handle: str) -> Member | None:
    """The member whose handle is `handle` (already normalised by `people.handles.normalise`; compared
    lower-case).  Any member, public or not: the caller decides what to show (see `Member.public`)."""
    with store.read() as conn:
        r = conn.execute(select(*_MEMBER_COLS).where(users.c.handle == handle.strip().lower())).first()
    return _member(r) if r else None


def member_by_handle_key(store: Store, key: str) -> Member | None:
    """Who holds the confusable skeleton `key` (so a look-alike handle can be refused by name)."""
    with store.read() as conn:
        r = conn.execute(select(*_MEMBER_COLS).where(users.c.handle_key == key)).first()
    return _member(r) if r else None


def handle_of(store: Store, member_id: int) -> str | None:
    """The member's chosen handle; None when there is none yet (or no such member)."""
    with store.read() as conn:
        r = conn.execute(select(users.c.handle).where(users.c.id == member_id)).first()
    return r[0] if r else None


def handles_of(store: Store, member_ids: Iterable[int]) -> dict[int, str]:
    """{member id: handle} for those that have chosen one (one query per 500 ids)."""
    ids = sorted(set(member_ids))
    out: dict[int, str] = {}
    with store.read() as conn:
        for i in range(0, len(ids), _CHUNK):
            q = select(users.c.id, users.c.handle).where(users.c.id.in_(ids[i : i + _CHUNK]),
                                                         users.c.handle.is_not(None))
            out.update((r[0], r[1]) for r in conn.execute(q))
    return out


def members(store: Store, member_ids: Iterable[int]) -> dict[int, Member]:
    ids = sorted(set(member_ids))
    out: dict[int, Member] = {}
    with store.read() as conn:
        for i in range(0, len(ids), _CHUNK):
            out.update((r.id, _member(r)) for r in conn.execute(
                select(*_MEMBER_COLS).where(users.c.id.in_(ids[i : i + _CHUNK]))))
    return out


def set_handle(store: Store, member_id: int, handle: str, key: str) -> bool:
    """Give the member `handle` (normalised) with confusable skeleton `key`; False when either is taken
    (by someone else: re-setting one's own handle, or changing its case, succeeds)."""
    try:
        with store.write() as conn:
            done = bool(conn.execute(update(users).where(users.c.id == member_id)
                                     .values(handle=handle, handle_key=key)).rowcount)
            _bump(conn)
            return done
    except IntegrityError:
        return False


def set_profile(store: Store, member_id: int, display_name: str | None, bio: str | None,
                links: Sequence[str]) -> None:
    """Store validated profile fields (`people.profiles.validate_profile` checks them)."""
    with store.write() as conn:
        conn.execute(update(users).where(users.c.id == member_id).values(
            display_name=display_name or None, bio=bio or None, links=json.dumps(list(links))))
        _bump(conn)


def role_of(store: Store, member_id: int) -> str:
    """'member', 'moderator' or 'operator' ('member' for an unknown id)."""
    with store.read() as conn:
        r = conn.execute(select(users.c.role).where(users.c.id == member_id)).first()
    return r[0] if r and r[0] in ROLES else "member"


def set_role(store: Store, member_id: int, role: str) -> bool:
    """False when there is no such member.  Raises ValueError for a role not in `ROLES`."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    with store.write() as conn:
        return bool(conn.execute(update(users).where(users.c.id == member_id).values(role=role)).rowcount)


def is_banned(store: Store, member_id: int) -> bool:
    with store.read() as conn:
        r = conn.execute(select(users.c.banned_at).where(users.c.id == member_id)).first()
    return r is not None and r[0] is not None


def ban(store: Store, member_id: int, reason: str = "") -> bool:
    """Ban the member (kept once: a second ban keeps the first time); False when there is no such member.
    The caller also revokes their sessions (`AccountStore.revoke_sessions`)."""
    with store.write() as conn:
        found = conn.execute(select(users.c.banned_at).where(users.c.id == member_id)).first()
        if found is None:
            return False
        if found[0] is None:
            conn.execute(update(users).where(users.c.id == member_id)
                         .values(banned_at=utcnow(), banned_reason=reason[:1000] or None))
            _bump(conn)
        return True


def unban(store: Store, member_id: int) -> bool:
    with store.write() as conn:
        _bump(conn)
        return bool(conn.execute(update(users).where(users.c.id == member_id)
                                 .values(banned_at=None, banned_reason=None)).rowcount)


def email_of(store: Store, member_id: int) -> str | None:
    """For policy only (the email-domain rules): never rendered."""
    with store.read() as conn:
        r = conn.execute(select(users.c.email, users.c.email_verified_at).where(users.c.id == member_id)).first()
    return r[0] if r else None


def submissions_of(store: Store, member_id: int, limit: int = 20) -> list[tuple[int, date]]:
    """(paper pk, day) of the member's submissions to a day's list, newest first."""
    with store.read() as conn:
        q = (select(submissions.c.paper_pk, submissions.c.day).where(submissions.c.user_id == member_id)
             .order_by(submissions.c.created_at.desc()).limit(limit))
        return [(r[0], r[1]) for r in conn.execute(q)]


# -- author claims -------------------------------------------------------------------------------------------


def create_claim(store: Store, member_id: int, paper_pk: int, author_name: str, author_key: str,
                 status: str = "pending", reason: str | None = None) -> Claim | None:
    """A new claim; None when this member already claimed this author on this paper, or (when `status` is
    'approved') someone else's claim on it is approved already."""
    if status not in CLAIM_STATUSES:
        raise ValueError(f"status must be one of {', '.join(CLAIM_STATUSES)}")
    now = utcnow()
    name, key = author_name[:500], author_key[:500]
    decided_at = now if status != "pending" else None
    try:
        with store.write() as conn:
            res = conn.execute(insert(author_claims).values(
                user_id=member_id, paper_pk=paper_pk, author_name=name, author_key=key, status=status,
                created_at=now, reason=reason, decided_at=decided_at))
            cid = int(res.inserted_primary_key[0])  # type: ignore[index]
            if status == "approved":
                _bump(conn)
                bump_discussion_version(conn)  # and the "author" marks in discussions
    except IntegrityError:
        return None
    return Claim(cid, member_id, paper_pk, name, key, status, now, None, decided_at, reason)


def claim(store: Store, claim_id: int) -> Claim | None:
    with store.read() as conn:
        r = conn.execute(select(author_claims).where(author_claims.c.id == claim_id)).first()
    return _claim(r) if r else None


def claims(store: Store, status: str | None = None, limit: int = 200, offset: int = 0) -> list[Claim]:
    """Claims (oldest first: the moderation queue is worked in order), optionally of one status."""
    q = select(author_claims).order_by(author_claims.c.id).limit(limit).offset(offset)
    if status is not None:
        q = q.where(author_claims.c.status == status)
    with store.read() as conn:
        return [_claim(r) for r in conn.execute(q)]


def claims_of_member(store: Store, member_id: int, status: str | None = None) -> list[Claim]:
    q = select(author_claims).where(author_claims.c.user_id == member_id).order_by(author_claims.c.id.desc())
    if status is not None:
        q = q.where(author_claims.c.status == status)
    with store.read() as conn:
        return [_claim(r) for r in conn.execute(q)]


def decide_claim(store: Store, claim_id: int, status: str, decided_by: int | None,
                 reason: str | None = None) -> bool:
    """Approve or reject a pending claim; False when it is not pending (decided already, or no such claim)
    or, approving, another claim on the same author of the paper is approved already."""
    if status not in ("approved", "rejected"):
        raise ValueError("a claim is decided as 'approved' or 'rejected'")
    try:
        with store.write() as conn:
            done = bool(conn.execute(
                update(author_claims).where(author_claims.c.id == claim_id, author_claims.c.status == "pending")
                .values(status=status, decided_by=decided_by, decided_at=utcnow(), reason=reason)).rowcount)
            if done and status == "approved":
                _bump(conn)
                bump_discussion_version(conn)  # and the "author" marks in discussions
            return done
    except IntegrityError:
        return False


def approved_claim(store: Store, paper_pk: int, author_key: str) -> Claim | None:
    """The approved claim on that author of the paper (at most one: a partial unique index), or None."""
    with store.read() as conn:
        r = conn.execute(select(author_claims).where(author_claims.c.paper_pk == paper_pk,
                                                     author_claims.c.author_key == author_key,
                                                     author_claims.c.status == "approved")).first()
    return _claim(r) if r else None


def claims_on_paper(store: Store, member_id: int, paper_pk: int) -> list[Claim]:
    """The member's claims on one paper (any status), oldest first: what the paper page tells them."""
    with store.read() as conn:
        return [_claim(r) for r in conn.execute(select(author_claims).where(
            author_claims.c.user_id == member_id, author_claims.c.paper_pk == paper_pk).order_by(author_claims.c.id))]


def claimed_authors(store: Store, paper_pk: int) -> dict[str, str]:
    """{author name as listed: handle} for the paper's approved claims whose member has a handle and is not
    banned: what turns an author's name into a profile link."""
    return claimed_authors_many(store, [paper_pk]).get(paper_pk, {})


def claimed_authors_many(store: Store, paper_pks: Sequence[int]) -> dict[int, dict[str, str]]:
    """`claimed_authors` for many papers at once (a page of cards): {paper pk: {author name: handle}}."""
    pks = sorted(set(paper_pks))
    out: dict[int, dict[str, str]] = {}
    with store.read() as conn:
        for i in range(0, len(pks), _CHUNK):
            q = (select(author_claims.c.paper_pk, author_claims.c.author_name, users.c.handle)
                 .join(users, users.c.id == author_claims.c.user_id)
                 .where(author_claims.c.paper_pk.in_(pks[i : i + _CHUNK]), author_claims.c.status == "approved",
                        users.c.handle.is_not(None), users.c.banned_at.is_(None)))
            for pk, name, handle in conn.execute(q):
                out.setdefault(pk, {})[name] = handle
    return out


def is_paper_author(store: Store, member_id: int, paper_pk: int) -> bool:
    """True when the member has an approved claim on the paper: the discussion's "author" mark."""
    with store.read() as conn:
        r = conn.execute(select(author_claims.c.id).where(
            author_claims.c.user_id == member_id, author_claims.c.paper_pk == paper_pk,
            author_claims.c.status == "approved").limit(1)).first()
    return r is not None


def paper_authors_among(store: Store, paper_pk: int) -> set[int]:
    """Member ids with an approved claim on the paper (one query for a whole thread's "author" marks)."""
    with store.read() as conn:
        q = select(author_claims.c.user_id).where(author_claims.c.paper_pk == paper_pk,
                                                   author_claims.c.status == "approved")
        return {r[0] for r in conn.execute(q)}


# -- auto-approve rules --------------------------------------------------------------------------------------


def add_rule(store: Store, email_domain: str, author_pattern: str, created_by: str = "") -> ClaimRule | None:
    """None when the same (domain, pattern) rule exists."""
    now = utcnow()
    try:
        with store.write() as conn:
            res = conn.execute(insert(claim_rules).values(email_domain=email_domain, author_pattern=author_pattern,
                                                          created_at=now, created_by=created_by[:100]))
            rid = int(res.inserted_primary_key[0])  # type: ignore[index]
    except IntegrityError:
        return None
    return ClaimRule(rid, email_domain, author_pattern, now, created_by[:100])


def rules(store: Store, email_domain: str | None = None) -> list[ClaimRule]:
    q = select(claim_rules).order_by(claim_rules.c.id)
    if email_domain is not None:
        q = q.where(claim_rules.c.email_domain == email_domain)
    with store.read() as conn:
        return [ClaimRule(r.id, r.email_domain, r.author_pattern, r.created_at, r.created_by) for r in conn.execute(q)]


def delete_rule(store: Store, rule_id: int) -> bool:
    with store.write() as conn:
        return bool(conn.execute(delete(claim_rules).where(claim_rules.c.id == rule_id)).rowcount)
