"""Notifications of replies and mentions, and each member's setting (tables `notifications`,
`notification_settings` of migration 0006).

Exactly once, twice over: a member is notified of one comment at most once (the unique key on
(member, comment), an insert that loses a race is dropped), and its email goes out at most once: a sender
claims a pending row with one conditional UPDATE (`pending` -> `sending`); whoever changed the row sends,
and the Message-ID is derived from the row, so a retry after a crash mid-send is folded by the receiving
server like a digest's (mail/ledger.py does the same for digests).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from paperfeed.store.papers import Store
from paperfeed.store.schema import comments, notification_settings, notifications, users


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Notification:
    id: int
    user_id: int
    kind: str
    comment_id: int
    created_at: datetime
    read_at: datetime | None
    email_status: str


def _note(r) -> Notification:  # type: ignore[no-untyped-def]
    return Notification(r.id, r.user_id, r.kind, r.comment_id, r.created_at, r.read_at, r.email_status)


def add(store: Store, user_id: int, kind: str, comment_id: int, email: bool) -> bool:
    """Notify `user_id` of the comment once; False when they already were (then nothing changes)."""
    try:
        with store.write() as conn:
            conn.execute(insert(notifications).values(user_id=user_id, kind=kind, comment_id=comment_id,
                                                      created_at=utcnow(),
                                                      email_status="pending" if email else "off"))
    except IntegrityError:
        return False
    return True


def for_member(store: Store, user_id: int, limit: int = 100) -> list[Notification]:
    with store.read() as conn:
        rows = conn.execute(select(notifications).where(notifications.c.user_id == user_id)
                            .order_by(notifications.c.id.desc()).limit(limit)).all()
    return [_note(r) for r in rows]


def unread_count(store: Store, user_id: int) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).where(notifications.c.user_id == user_id,
                                                           notifications.c.read_at.is_(None))).scalar() or 0)


def mark_read(store: Store, user_id: int) -> int:
    with store.write() as conn:
        return int(conn.execute(update(notifications).where(notifications.c.user_id == user_id,
                                                            notifications.c.read_at.is_(None))
                                .values(read_at=utcnow())).rowcount)


def email_enabled(store: Store, user_id: int) -> bool:
    """The member's setting: email me replies and mentions (on unless they turned it off)."""
    with store.read() as conn:
        v = conn.execute(select(notification_settings.c.email).where(notification_settings.c.user_id == user_id)
                         ).scalar()
    return v is None or bool(v)


def set_email(store: Store, user_id: int, on: bool) -> None:
    with store.write() as conn:
        values = {"email": 1 if on else 0, "updated_at": utcnow()}
        if conn.execute(update(notification_settings).where(notification_settings.c.user_id == user_id)
                        .values(**values)).rowcount == 0:
            conn.execute(insert(notification_settings).values(user_id=user_id, **values))
        if not on:  # what is still waiting is not sent either (one being sent right now may still go)
            conn.execute(update(notifications).where(notifications.c.user_id == user_id,
                                                     notifications.c.email_status == "pending")
                         .values(email_status="off"))


def _due(now: datetime):  # type: ignore[no-untyped-def]
    """Rows a sender may take at `now`: pending and due, or `sending` under a lease that has run out (the
    sender that held it died between its claim and its `finish`)."""
    after = notifications.c.email_after
    status = notifications.c.email_status
    return or_(and_(status == "pending", or_(after.is_(None), after <= now)), and_(status == "sending", after <= now))


def pending_ids(store: Store, limit: int = 100, now: datetime | None = None) -> list[int]:
    """Notifications whose email is owed at `now` (default: the current time), oldest first."""
    with store.read() as conn:
        return [r[0] for r in conn.execute(select(notifications.c.id).where(_due(now or utcnow()))
                                           .order_by(notifications.c.id).limit(limit))]


def claim(store: Store, note_id: int, lease: timedelta = timedelta(minutes=10),
          now: datetime | None = None) -> tuple[Notification, str, int] | None:
    """Take one owed email to send, for `lease`: the notification, its member's address and which attempt this
    is (1 = the first); None when another sender took it first (one conditional UPDATE decides) or it is no
    longer owed."""
    now = now or utcnow()
    with store.write() as conn:
        if not conn.execute(update(notifications).where(notifications.c.id == note_id, _due(now))
                            .values(email_status="sending", email_after=now + lease,
                                    email_attempts=notifications.c.email_attempts + 1)).rowcount:
            return None
        r = conn.execute(select(notifications, users.c.email.label("address"))
                         .join(users, users.c.id == notifications.c.user_id)
                         .where(notifications.c.id == note_id)).one()
    return _note(r), str(r.address), int(r.email_attempts)


def finish(store: Store, note_id: int, status: str, retry_at: datetime | None = None) -> None:
    """`sent`, `failed` (permanent), `off` (nothing to send any more), or back to `pending` for a transient
    failure, to be tried again from `retry_at`.  Only a row in `sending` changes: a finish never undoes
    what the member did meanwhile (turning emails off sets `off`)."""
    with store.write() as conn:
        conn.execute(update(notifications).where(notifications.c.id == note_id,
                                                 notifications.c.email_status == "sending")
                     .values(email_status=status, emailed_at=utcnow() if status == "sent" else None,
                             email_after=retry_at if status == "pending" else None))


def email_counts(store: Store) -> dict[str, int]:
    """How many notifications are in each email state (pending, sending, sent, off, failed)."""
    with store.read() as conn:
        rows = conn.execute(select(notifications.c.email_status, func.count())
                            .group_by(notifications.c.email_status)).all()
    return {str(k): int(n) for k, n in rows}


def comment_paper(store: Store, comment_id: int) -> int | None:
    with store.read() as conn:
        return conn.execute(select(comments.c.paper_pk).where(comments.c.id == comment_id)).scalar()
