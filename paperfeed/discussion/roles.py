"""Who may do what in the discussion: the one place the site asks about roles, bans and handles.

Roles (member | moderator | operator), bans and handles belong to `paperfeed/store/people.py` (migration
0005_people, another part of issue 12).  Until that is merged, this module keeps them in the store's key-value
state (`discussion.roles`, `discussion.bans`) and handles are `member{id}`; every caller goes through these
functions, so pointing them at store/people.py is a change here only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from paperfeed.store.papers import Store

MODERATING = {"moderator", "operator"}
NEW_ACCOUNT = timedelta(days=2)  # younger accounts get the harder comment rate limit (web/discussion.py)


def role_of(store: Store, user_id: int) -> str:
    roles = store.get_state("discussion.roles") or {}
    return str(roles.get(str(user_id), "member"))


def set_role(store: Store, user_id: int, role: str) -> None:
    if role not in {"member", *MODERATING}:
        raise ValueError(f"unknown role {role!r}")
    roles = dict(store.get_state("discussion.roles") or {})
    roles[str(user_id)] = role
    store.set_state("discussion.roles", roles)


def can_moderate(store: Store, user_id: int | None) -> bool:
    return user_id is not None and role_of(store, user_id) in MODERATING and not is_banned(store, user_id)


def is_banned(store: Store, user_id: int) -> bool:
    return str(user_id) in (store.get_state("discussion.bans") or {})


def ban(store: Store, user_id: int) -> bool:
    """Ban the member from writing; False when they already were."""
    bans = dict(store.get_state("discussion.bans") or {})
    if str(user_id) in bans:
        return False
    bans[str(user_id)] = datetime.now(UTC).isoformat()
    store.set_state("discussion.bans", bans)
    return True


def handle_of(store: Store, user_id: int) -> str:
    return f"member{user_id}"


def member_by_handle(store: Store, handle: str) -> int | None:
    """The member id a mention names, or None."""
    h = handle.lower()
    if h.startswith("member") and h[6:].isdigit():
        from paperfeed.store.accounts import AccountStore

        uid = int(h[6:])
        return uid if AccountStore(store).user(uid) is not None else None
    return None


def is_new(created_at: datetime, now: datetime | None = None) -> bool:
    return (now or datetime.now(UTC).replace(tzinfo=None)) - created_at < NEW_ACCOUNT


def authors_of(store: Store, paper_id: str) -> set[int]:
    """Members with an approved authorship claim on the paper (the "author" mark); none before people lands."""
    return set()
