"""Who may do what in the discussion: the one place it asks about roles, bans, handles and authorship.

All of it lives in `paperfeed/store/people.py` (migration 0005_people): roles member | moderator | operator,
bans (`users.banned_at`), chosen handles, approved author claims.  A member who has not chosen a handle is
shown (and can be mentioned) as `member{id}`, as before handles existed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from paperfeed.store import people
from paperfeed.store.papers import Store

MODERATING = {"moderator", "operator"}
NEW_ACCOUNT = timedelta(days=2)  # younger accounts get the harder comment rate limit (web/discussion.py)


def role_of(store: Store, user_id: int) -> str:
    return people.role_of(store, user_id)


def set_role(store: Store, user_id: int, role: str) -> None:
    people.set_role(store, user_id, role)


def can_moderate(store: Store, user_id: int | None) -> bool:
    return user_id is not None and role_of(store, user_id) in MODERATING and not is_banned(store, user_id)


def is_banned(store: Store, user_id: int) -> bool:
    return people.is_banned(store, user_id)


def ban(store: Store, user_id: int, reason: str = "") -> bool:
    """Ban the member from writing; False when they already were (or do not exist)."""
    if people.is_banned(store, user_id):
        return False
    return people.ban(store, user_id, reason)


def handle_of(store: Store, user_id: int) -> str:
    return people.handle_of(store, user_id) or f"member{user_id}"


def handles_of(store: Store, user_ids: Iterable[int]) -> dict[int, str]:
    ids = set(user_ids)
    chosen = people.handles_of(store, ids)
    return {i: chosen.get(i) or f"member{i}" for i in ids}


def member_by_handle(store: Store, handle: str) -> int | None:
    """The member id a mention names (a chosen handle, or `member{id}` of one without), or None."""
    found = people.member_by_handle(store, handle)
    if found is not None:
        return found.id
    h = handle.lower()
    if h.startswith("member") and h[6:].isdigit() and len(h) < 17:
        m = people.member(store, int(h[6:]))
        return m.id if m is not None and m.handle is None else None
    return None


def is_new(created_at: datetime, now: datetime | None = None) -> bool:
    return (now or datetime.now(UTC).replace(tzinfo=None)) - created_at < NEW_ACCOUNT


def authors_of(store: Store, paper_pk: int) -> set[int]:
    """Members with an approved authorship claim on the paper: their comments carry the "author" mark."""
    return people.paper_authors_among(store, paper_pk)
