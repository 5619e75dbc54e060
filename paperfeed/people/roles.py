"""Who may do what: the one place role checks are made (the discussion's moderation uses `can_moderate`)."""

from __future__ import annotations

from paperfeed.store import people
from paperfeed.store.papers import Store


def can_moderate(store: Store, member_id: int | None) -> bool:
    """Moderators and operators who are not banned: hide, delete, ban."""
    if member_id is None:
        return False
    m = people.member(store, member_id)
    return m is not None and m.banned_at is None and m.role in ("moderator", "operator")


def is_operator(store: Store, member_id: int | None) -> bool:
    """Operators (not banned): decide author claims, set auto-approve rules."""
    if member_id is None:
        return False
    m = people.member(store, member_id)
    return m is not None and m.banned_at is None and m.role == "operator"
