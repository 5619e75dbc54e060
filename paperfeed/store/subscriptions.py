"""Subscribers and what they follow (tables `subscribers`, `follows` of migration 0003): the SQL behind
`paperfeed.mail.subscriptions.Subscriptions`, which checks every value before it reaches these functions.

Rows come back as SQLAlchemy rows (attribute access by column name); the mail package turns them into
its `Subscriber` objects.  `prefs` arguments are column values (`frequency`, `weekly_day`, …).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from paperfeed.store.papers import Store
from paperfeed.store.schema import follows, subscribers, users

_CHUNK = 500


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _get(conn: Any, subscriber_id: int) -> Row | None:
    return conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()


def subscribe(store: Store, email: str, prefs: Mapping[str, Any], user_id: int | None,
              follows_: Sequence[tuple[str, str]]) -> tuple[Row, bool]:
    """The row for `email` and whether it was created now.  An existing address changes only from
    unsubscribed back to pending (to be confirmed again)."""
    now = utcnow()
    with store.write() as conn:
        row = conn.execute(select(subscribers).where(subscribers.c.email == email)).first()
        if row is not None:
            if row.status == "unsubscribed":
                conn.execute(update(subscribers).where(subscribers.c.id == row.id)
                             .values(status="pending", unsubscribed_at=None,
                                     link_version=subscribers.c.link_version + 1))
            return conn.execute(select(subscribers).where(subscribers.c.id == row.id)).one(), False
        key = conn.execute(insert(subscribers).values(
            email=email, user_id=user_id, status="pending", created_at=now, **prefs,
        )).inserted_primary_key
        assert key is not None
        sid = key[0]
        for kind, value in follows_:
            conn.execute(insert(follows).values(subscriber_id=sid, kind=kind, value=value, created_at=now))
        return conn.execute(select(subscribers).where(subscribers.c.id == sid)).one(), True


def set_status(store: Store, subscriber_id: int, status: str, *, only_from: Sequence[str] | None = None,
               link_version: int | None = None, bump_link_version: bool = False, **stamps: Any) -> Row | None:
    """Move a subscriber to `status` (when its status is one of `only_from` and its links' version is
    `link_version`, if given), with the given columns (e.g. `confirmed_at=`); with `bump_link_version`,
    links issued before stop working.  The row afterwards."""
    with store.write() as conn:
        cond = [subscribers.c.id == subscriber_id]
        if only_from is not None:
            cond.append(subscribers.c.status.in_(list(only_from)))
        if link_version is not None:
            cond.append(subscribers.c.link_version == link_version)
        if bump_link_version:
            stamps["link_version"] = subscribers.c.link_version + 1
        conn.execute(update(subscribers).where(*cond).values(status=status, **stamps))
        return _get(conn, subscriber_id)


def update_columns(store: Store, subscriber_id: int, **values: Any) -> Row | None:
    with store.write() as conn:
        conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id).values(**values))
        return _get(conn, subscriber_id)


def add_follow(store: Store, subscriber_id: int, kind: str, value: str, max_follows: int) -> bool:
    """Add a follow; False when the subscriber already has `max_follows` (a follow already there is a no-op)."""
    with store.write() as conn:
        n = conn.execute(select(func.count()).select_from(follows)
                         .where(follows.c.subscriber_id == subscriber_id)).scalar() or 0
        if n >= max_follows:
            return False
        try:
            with conn.begin_nested():
                conn.execute(insert(follows).values(subscriber_id=subscriber_id, kind=kind, value=value,
                                                    created_at=utcnow()))
        except IntegrityError:
            pass  # already followed: nothing to do
    return True


def remove_follow(store: Store, subscriber_id: int, kind: str, value: str) -> bool:
    with store.write() as conn:
        n = conn.execute(delete(follows).where(follows.c.subscriber_id == subscriber_id,
                                               follows.c.kind == kind, follows.c.value == value)).rowcount
    return bool(n)


def follows_of(store: Store, subscriber_ids: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
    """(kind, value) per subscriber, in the order they were added."""
    out: dict[int, list[tuple[str, str]]] = {sid: [] for sid in subscriber_ids}
    ids = list(subscriber_ids)
    with store.read() as conn:
        for i in range(0, len(ids), _CHUNK):
            rows = conn.execute(select(follows.c.subscriber_id, follows.c.kind, follows.c.value)
                                .where(follows.c.subscriber_id.in_(ids[i:i + _CHUNK]))
                                .order_by(follows.c.subscriber_id, follows.c.id))
            for sid, kind, value in rows:
                out[sid].append((kind, value))
    return out


def get(store: Store, subscriber_id: int) -> Row | None:
    with store.read() as conn:
        return _get(conn, subscriber_id)


def by_email(store: Store, email: str) -> Row | None:
    with store.read() as conn:
        return conn.execute(select(subscribers).where(subscribers.c.email == email)).first()


def for_user(store: Store, user_id: int) -> Row | None:
    """The subscription linked to an account, else the one under the account's email."""
    with store.read() as conn:
        r = conn.execute(select(subscribers).where(subscribers.c.user_id == user_id)).first()
        if r is None:
            email = conn.execute(select(users.c.email).where(users.c.id == user_id)).scalar()
            if email is not None:
                r = conn.execute(select(subscribers).where(subscribers.c.email == email)).first()
    return r


def many(store: Store, subscriber_ids: Sequence[int]) -> list[Row]:
    ids = sorted(set(subscriber_ids))
    out: list[Row] = []
    with store.read() as conn:
        for i in range(0, len(ids), _CHUNK):
            out.extend(conn.execute(select(subscribers).where(subscribers.c.id.in_(ids[i:i + _CHUNK]))))
    return out


def iter_active(store: Store, chunk: int = 5000) -> Iterator[list[Row]]:
    """Active subscribers in id order, a chunk at a time."""
    last = 0
    while True:
        with store.read() as conn:
            rows = conn.execute(select(subscribers).where(subscribers.c.status == "active", subscribers.c.id > last)
                                .order_by(subscribers.c.id).limit(chunk)).all()
        if not rows:
            return
        yield list(rows)
        last = rows[-1].id
