"""A member's personal-feed signals (tables of migration 0007_signals; upvotes stay in `votes`, 0002).

One function per question, each in its own transaction.  `raw_signals` is everything the recommender
needs for one member in one read transaction (a handful of indexed queries), so a new signal counts on
the very next request: there is no per-member model to retrain (the ranker is closed-form, see
paperfeed/recommend/ranker.py).  Follows are the member's own (`member_follows`) plus those of a
subscription linked to the account (`follows`, 0003): a subscriber linked to a member shares them.
Times are naive UTC.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from paperfeed.store.papers import Store
from paperfeed.store.schema import (
    collection_items,
    collections,
    dismissals,
    follows,
    library_imports,
    member_follows,
    paper_opens,
    papers,
    shown_papers,
    signal_prefs,
    subscribers,
    votes,
)

FOLLOW_KINDS = ("author", "category", "search")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _insert_once(conn: Connection, table: Any, **values: Any) -> bool:
    """Insert a row; False (and nothing changed) when a unique constraint says it is already there."""
    try:
        with conn.begin_nested():
            conn.execute(insert(table).values(**values))
    except IntegrityError:
        return False
    return True


# -- "not interested" ---------------------------------------------------------------------------------


def dismiss(store: Store, user_id: int, paper_pk: int) -> bool:
    with store.write() as conn:
        return _insert_once(conn, dismissals, user_id=user_id, paper_pk=paper_pk, created_at=utcnow())


def undismiss(store: Store, user_id: int, paper_pk: int) -> bool:
    with store.write() as conn:
        return bool(conn.execute(delete(dismissals).where(dismissals.c.user_id == user_id,
                                                          dismissals.c.paper_pk == paper_pk)).rowcount)


def dismissed_among(store: Store, user_id: int, paper_pks: Sequence[int]) -> set[int]:
    """For cards: which of these papers the member marked "not interested" (one query per page)."""
    if not paper_pks:
        return set()
    with store.read() as conn:
        q = select(dismissals.c.paper_pk).where(dismissals.c.user_id == user_id,
                                                dismissals.c.paper_pk.in_(list(paper_pks)))
        return {r[0] for r in conn.execute(q)}


def member_follows_of(store: Store, user_id: int) -> list[tuple[str, str]]:
    """The member's own follows (kind, value), oldest first: what the feed settings page lists."""
    with store.read() as conn:
        return [(k, v) for k, v in conn.execute(select(member_follows.c.kind, member_follows.c.value)
                                                .where(member_follows.c.user_id == user_id)
                                                .order_by(member_follows.c.id))]


# -- the private feed link's nonce (0008_foryou) ------------------------------------------------------


def feed_key(store: Store, user_id: int) -> str:
    """The member's current feed-link nonce, made on first use."""
    with store.write() as conn:
        key = conn.execute(select(signal_prefs.c.feed_key).where(signal_prefs.c.user_id == user_id)).scalar()
        if key:
            return str(key)
        key = secrets.token_urlsafe(24)
        done = conn.execute(update(signal_prefs).where(signal_prefs.c.user_id == user_id)
                            .values(feed_key=key, updated_at=utcnow())).rowcount
        if not done:
            _insert_once(conn, signal_prefs, user_id=user_id, feed_key=key, updated_at=utcnow())
        return str(conn.execute(select(signal_prefs.c.feed_key).where(signal_prefs.c.user_id == user_id)).scalar())


def reset_feed_key(store: Store, user_id: int) -> str:
    """A new nonce: every feed link given out before stops working."""
    with store.write() as conn:
        conn.execute(update(signal_prefs).where(signal_prefs.c.user_id == user_id).values(feed_key=None))
    return feed_key(store, user_id)


def feed_key_matches(store: Store, user_id: int, key: str) -> bool:
    with store.read() as conn:
        stored = conn.execute(select(signal_prefs.c.feed_key).where(signal_prefs.c.user_id == user_id)).scalar()
    return bool(stored) and secrets.compare_digest(str(stored), key)


# -- follows ------------------------------------------------------------------------------------------


def follow(store: Store, user_id: int, kind: str, value: str) -> bool:
    if kind not in FOLLOW_KINDS:
        raise ValueError(f"unknown follow kind {kind!r}")
    value = value.strip()
    if not value:
        raise ValueError("empty follow")
    with store.write() as conn:
        return _insert_once(conn, member_follows, user_id=user_id, kind=kind, value=value[:1000], created_at=utcnow())


def unfollow(store: Store, user_id: int, kind: str, value: str) -> bool:
    """Remove the follow from the member and from a subscription linked to the account (they are shared)."""
    with store.write() as conn:
        n = conn.execute(delete(member_follows).where(member_follows.c.user_id == user_id,
                                                      member_follows.c.kind == kind,
                                                      member_follows.c.value == value)).rowcount
        sids = select(subscribers.c.id).where(subscribers.c.user_id == user_id).scalar_subquery()
        n += conn.execute(delete(follows).where(follows.c.subscriber_id.in_(sids), follows.c.kind == kind,
                                                follows.c.value == value)).rowcount
    return bool(n)


# -- implicit signals (off unless the member turns them on), the shown log ------------------------------


def set_implicit(store: Store, user_id: int, on: bool) -> None:
    with store.write() as conn:
        done = conn.execute(update(signal_prefs).where(signal_prefs.c.user_id == user_id)
                            .values(implicit_opens=int(on), updated_at=utcnow())).rowcount
        if not done:
            _insert_once(conn, signal_prefs, user_id=user_id, implicit_opens=int(on), updated_at=utcnow())


def implicit_on(store: Store, user_id: int) -> bool:
    with store.read() as conn:
        return bool(conn.execute(select(signal_prefs.c.implicit_opens)
                                 .where(signal_prefs.c.user_id == user_id)).scalar())


def record_open(store: Store, user_id: int, paper_pk: int, source: str) -> bool:
    """Record that the member opened a paper from a digest or list; nothing when they have not opted in."""
    with store.write() as conn:
        on = conn.execute(select(signal_prefs.c.implicit_opens).where(signal_prefs.c.user_id == user_id)).scalar()
        if not on:
            return False
        return _insert_once(conn, paper_opens, user_id=user_id, paper_pk=paper_pk, source=source[:16],
                            created_at=utcnow())


def mark_shown(store: Store, user_id: int, paper_pks: Sequence[int], place: str) -> int:
    """Log papers shown to the member (a digest's personal section): they are not picked again."""
    n = 0
    with store.write() as conn:
        for pk in dict.fromkeys(paper_pks):
            n += _insert_once(conn, shown_papers, user_id=user_id, paper_pk=pk, place=place[:16], created_at=utcnow())
    return n


def record_import(store: Store, user_id: int, fmt: str, count: int) -> None:
    with store.write() as conn:
        conn.execute(insert(library_imports).values(user_id=user_id, format=fmt[:16], papers=count,
                                                    created_at=utcnow()))


# -- everything at once: the recommender's input, the download, the delete --------------------------------


@dataclass
class RawSignals:
    """One member's signals as paper ids (oldest first where order matters)."""

    liked: list[tuple[str, str, str | None]] = field(default_factory=list)  # (paper id, upvoted|saved, collection)
    dismissed: list[str] = field(default_factory=list)
    follows: list[tuple[str, str]] = field(default_factory=list)  # (kind, value), member's then subscriber's
    exclude: set[str] = field(default_factory=set)  # shown or opened: never again


def raw_signals(store: Store, user_id: int) -> RawSignals:
    out = RawSignals()
    with store.read() as conn:
        likes: list[tuple[datetime, str, str, str | None]] = []
        q = (select(votes.c.created_at, papers.c.id).join(papers, papers.c.pk == votes.c.paper_pk)
             .where(votes.c.user_id == user_id))
        likes.extend((t, pid, "upvoted", None) for t, pid in conn.execute(q))
        q2 = (select(collection_items.c.created_at, papers.c.id, collections.c.name)
              .join(collections, collections.c.id == collection_items.c.collection_id)
              .join(papers, papers.c.pk == collection_items.c.paper_pk)
              .where(collections.c.user_id == user_id))
        likes.extend((t, pid, "saved", name) for t, pid, name in conn.execute(q2))
        likes.sort(key=lambda x: (x[0], x[1]))
        seen: set[str] = set()
        for _, pid, kind, coll in reversed(likes):  # newest mention of a paper wins
            if pid not in seen:
                seen.add(pid)
                out.liked.append((pid, kind, coll))
        out.liked.reverse()
        q3 = (select(papers.c.id).join(dismissals, dismissals.c.paper_pk == papers.c.pk)
              .where(dismissals.c.user_id == user_id).order_by(dismissals.c.created_at, papers.c.id))
        out.dismissed = [r[0] for r in conn.execute(q3)]
        mine = conn.execute(select(member_follows.c.kind, member_follows.c.value)
                            .where(member_follows.c.user_id == user_id).order_by(member_follows.c.id)).all()
        theirs = conn.execute(select(follows.c.kind, follows.c.value)
                              .join(subscribers, subscribers.c.id == follows.c.subscriber_id)
                              .where(subscribers.c.user_id == user_id).order_by(follows.c.id)).all()
        out.follows = list(dict.fromkeys((k, v) for k, v in [*mine, *theirs]))
        for table in (shown_papers, paper_opens):
            q4 = select(papers.c.id).join(table, table.c.paper_pk == papers.c.pk).where(table.c.user_id == user_id)
            out.exclude.update(r[0] for r in conn.execute(q4))
    return out


# SQLite's default limit on bound variables is 999 (older builds): 900 ids leave room for the rest.
CHUNK = 900


def raw_signals_many(store: Store, user_ids: Sequence[int], chunk: int = CHUNK) -> dict[int, RawSignals]:
    """`raw_signals` for many members at once (the digest run): the same content member by member, read
    with seven queries per chunk of `CHUNK` members (IN lists) in one read transaction per chunk, instead
    of seven queries per member.  Members with no signal get an empty `RawSignals`.  `chunk`: members
    per transaction (at most ~900 on SQLite)."""
    ids = list(dict.fromkeys(int(u) for u in user_ids))
    out: dict[int, RawSignals] = {u: RawSignals() for u in ids}
    for i in range(0, len(ids), chunk):
        with store.read() as conn:
            _read_chunk(conn, ids[i:i + chunk], out)
    return out


def _read_chunk(conn: Connection, chunk: list[int], out: dict[int, RawSignals]) -> None:
    likes: dict[int, list[tuple[datetime, str, str, str | None]]] = {}
    q = (select(votes.c.user_id, votes.c.created_at, papers.c.id).join(papers, papers.c.pk == votes.c.paper_pk)
         .where(votes.c.user_id.in_(chunk)))
    for u, t, pid in conn.execute(q):
        likes.setdefault(u, []).append((t, pid, "upvoted", None))
    q2 = (select(collections.c.user_id, collection_items.c.created_at, papers.c.id, collections.c.name)
          .join(collections, collections.c.id == collection_items.c.collection_id)
          .join(papers, papers.c.pk == collection_items.c.paper_pk)
          .where(collections.c.user_id.in_(chunk)))
    for u, t, pid, name in conn.execute(q2):
        likes.setdefault(u, []).append((t, pid, "saved", name))
    for u, rows in likes.items():
        rows.sort(key=lambda x: (x[0], x[1]))
        seen: set[str] = set()
        liked = out[u].liked
        for _, pid, kind, coll in reversed(rows):  # newest mention of a paper wins
            if pid not in seen:
                seen.add(pid)
                liked.append((pid, kind, coll))
        liked.reverse()
    q3 = (select(dismissals.c.user_id, papers.c.id).join(dismissals, dismissals.c.paper_pk == papers.c.pk)
          .where(dismissals.c.user_id.in_(chunk)).order_by(dismissals.c.created_at, papers.c.id))
    for u, pid in conn.execute(q3):
        out[u].dismissed.append(pid)
    pairs: dict[int, list[tuple[str, str]]] = {}
    for u, k, v in conn.execute(select(member_follows.c.user_id, member_follows.c.kind, member_follows.c.value)
                                .where(member_follows.c.user_id.in_(chunk)).order_by(member_follows.c.id)):
        pairs.setdefault(u, []).append((k, v))
    theirs = (select(subscribers.c.user_id, follows.c.kind, follows.c.value)
              .join(subscribers, subscribers.c.id == follows.c.subscriber_id)
              .where(subscribers.c.user_id.in_(chunk)).order_by(follows.c.id))
    for u, k, v in conn.execute(theirs):  # after all of the member's own: both queries are ordered by id
        pairs.setdefault(u, []).append((k, v))
    for u, fs in pairs.items():
        out[u].follows = list(dict.fromkeys(fs))
    for table in (shown_papers, paper_opens):
        q4 = (select(table.c.user_id, papers.c.id).join(table, table.c.paper_pk == papers.c.pk)
              .where(table.c.user_id.in_(chunk)))
        for u, pid in conn.execute(q4):
            out[u].exclude.add(pid)


def export_signals(store: Store, user_id: int) -> dict[str, Any]:
    """Everything stored about the member's feed, as JSON-ready values (the "download my signals" file)."""
    def rows(conn: Connection, q: Any) -> list[dict[str, Any]]:
        return [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r._mapping.items()}
                for r in conn.execute(q)]

    with store.read() as conn:
        def paper_rows(table: Any, *cols: Any) -> list[dict[str, Any]]:
            return rows(conn, select(papers.c.id.label("paper"), *cols)
                        .join(table, table.c.paper_pk == papers.c.pk).where(table.c.user_id == user_id)
                        .order_by(table.c.created_at, papers.c.id))

        return {
            "upvotes": paper_rows(votes, votes.c.created_at),
            "dismissed": paper_rows(dismissals, dismissals.c.created_at),
            "opened": paper_rows(paper_opens, paper_opens.c.source, paper_opens.c.created_at),
            "shown": paper_rows(shown_papers, shown_papers.c.place, shown_papers.c.created_at),
            "follows": rows(conn, select(member_follows.c.kind, member_follows.c.value, member_follows.c.created_at)
                            .where(member_follows.c.user_id == user_id).order_by(member_follows.c.id)),
            "collections": [
                {**c, "papers": [r[0] for r in conn.execute(
                    select(papers.c.id).join(collection_items, collection_items.c.paper_pk == papers.c.pk)
                    .where(collection_items.c.collection_id == c.pop("id")).order_by(collection_items.c.created_at))]}
                for c in rows(conn, select(collections.c.id, collections.c.name, collections.c.visibility,
                                           collections.c.created_at)
                              .where(collections.c.user_id == user_id).order_by(collections.c.id))],
            "imports": rows(conn, select(library_imports.c.format, library_imports.c.papers,
                                         library_imports.c.created_at).where(library_imports.c.user_id == user_id)),
            "implicit_opens": bool(conn.execute(select(signal_prefs.c.implicit_opens)
                                                .where(signal_prefs.c.user_id == user_id)).scalar()),
        }


def delete_signals(store: Store, user_id: int) -> int:
    """Delete every feed signal of the member (upvotes included: they are a signal); rows deleted."""
    n = 0
    with store.write() as conn:
        for table in (votes, dismissals, member_follows, paper_opens, shown_papers, library_imports, signal_prefs,
                      collections):
            n += conn.execute(delete(table).where(table.c.user_id == user_id)).rowcount
    return n
