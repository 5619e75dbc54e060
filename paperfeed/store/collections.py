"""Collections: a member's named reading lists (tables `collections`, `collection_items` of 0007_signals).

Visibility is private (the owner only), link (anyone holding the share token) or public.  Whether a
reader may see a collection is decided here, in one place (`visible_to`), so the site, the API and the
feeds cannot disagree; a collection the reader may not see is reported exactly like a missing one.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from paperfeed.store.dialect import is_row_id
from paperfeed.store.papers import Store
from paperfeed.store.schema import collection_items, collections, papers

VISIBILITIES = ("private", "link", "public")
MAX_NAME = 200


@dataclass(frozen=True)
class Collection:
    id: int
    user_id: int
    name: str
    visibility: str
    share_token: str
    created_at: datetime
    size: int = 0


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _of(r, size: int = 0) -> Collection:  # type: ignore[no-untyped-def]
    return Collection(r.id, r.user_id, r.name, r.visibility, r.share_token, r.created_at, size)


def create(store: Store, user_id: int, name: str, visibility: str = "private") -> Collection | None:
    """A new collection; None when the member already has one of that name."""
    name = " ".join(name.split())[:MAX_NAME]
    if not name:
        raise ValueError("a collection needs a name")
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}")
    try:
        with store.write() as conn:
            cid = conn.execute(insert(collections).values(
                user_id=user_id, name=name, visibility=visibility, share_token=secrets.token_urlsafe(32),
                created_at=utcnow()).returning(collections.c.id)).scalar_one()
            return _of(conn.execute(select(collections).where(collections.c.id == cid)).one())
    except IntegrityError:
        return None


def get(store: Store, collection_id: int) -> Collection | None:
    if not is_row_id(collection_id):
        return None
    with store.read() as conn:
        r = conn.execute(select(collections).where(collections.c.id == collection_id)).first()
        if r is None:
            return None
        n = conn.execute(select(func.count()).select_from(collection_items)
                         .where(collection_items.c.collection_id == collection_id)).scalar() or 0
        return _of(r, int(n))


def visible_to(c: Collection | None, reader_id: int | None, token: str | None = None) -> bool:
    if c is None:
        return False
    if c.visibility == "public" or c.user_id == reader_id:
        return True
    return c.visibility == "link" and token is not None and secrets.compare_digest(token, c.share_token)


def of_user(store: Store, user_id: int) -> list[Collection]:
    with store.read() as conn:
        q = (select(collections, func.count(collection_items.c.paper_pk).label("size"))
             .outerjoin(collection_items, collection_items.c.collection_id == collections.c.id)
             .where(collections.c.user_id == user_id).group_by(*collections.c).order_by(collections.c.name))
        return [_of(r, int(r.size)) for r in conn.execute(q)]


def public_of(store: Store, user_id: int) -> list[Collection]:
    """The member's collections with visibility `public` (what their profile page lists; "link" ones stay
    unlisted: only a holder of the share token may see them)."""
    with store.read() as conn:
        q = (select(collections, func.count(collection_items.c.paper_pk).label("size"))
             .outerjoin(collection_items, collection_items.c.collection_id == collections.c.id)
             .where(collections.c.user_id == user_id, collections.c.visibility == "public")
             .group_by(*collections.c).order_by(collections.c.name))
        return [_of(r, int(r.size)) for r in conn.execute(q)]


def set_visibility(store: Store, collection_id: int, visibility: str, *, new_token: bool = False) -> None:
    """Change who can see it; `new_token` voids every share link given out so far."""
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}")
    values: dict[str, object] = {"visibility": visibility}
    if new_token:
        values["share_token"] = secrets.token_urlsafe(32)
    with store.write() as conn:
        conn.execute(update(collections).where(collections.c.id == collection_id).values(**values))


def remove_collection(store: Store, collection_id: int) -> bool:
    with store.write() as conn:
        return bool(conn.execute(delete(collections).where(collections.c.id == collection_id)).rowcount)


def add(store: Store, collection_id: int, paper_pk: int) -> bool:
    """Save a paper into the collection; False when it was already there."""
    try:
        with store.write() as conn:
            conn.execute(insert(collection_items).values(collection_id=collection_id, paper_pk=paper_pk,
                                                         created_at=utcnow()))
    except IntegrityError:
        return False
    return True


def remove(store: Store, collection_id: int, paper_pk: int) -> bool:
    with store.write() as conn:
        return bool(conn.execute(delete(collection_items).where(collection_items.c.collection_id == collection_id,
                                                                collection_items.c.paper_pk == paper_pk)).rowcount)


def items(store: Store, collection_id: int) -> list[int]:
    """Paper pks in the collection, most recently saved first."""
    with store.read() as conn:
        q = (select(collection_items.c.paper_pk).where(collection_items.c.collection_id == collection_id)
             .order_by(collection_items.c.created_at.desc(), collection_items.c.paper_pk))
        return [r[0] for r in conn.execute(q)]


def item_ids(store: Store, collection_id: int) -> list[str]:
    """Paper ids in the collection, oldest saved first (the order "more like this collection" weighs)."""
    with store.read() as conn:
        q = (select(papers.c.id).join(collection_items, collection_items.c.paper_pk == papers.c.pk)
             .where(collection_items.c.collection_id == collection_id)
             .order_by(collection_items.c.created_at, papers.c.id))
        return [r[0] for r in conn.execute(q)]


def saved_in(store: Store, user_id: int, pks: Sequence[int]) -> dict[int, list[str]]:
    """For cards: which of the member's collections hold each paper."""
    out: dict[int, list[str]] = {}
    with store.read() as conn:
        q = (select(collection_items.c.paper_pk, collections.c.name)
             .join(collections, collections.c.id == collection_items.c.collection_id)
             .where(collections.c.user_id == user_id, collection_items.c.paper_pk.in_(list(pks)))
             .order_by(collections.c.name))
        for pk, name in conn.execute(q):
            out.setdefault(pk, []).append(name)
    return out


def rename(store: Store, collection_id: int, name: str) -> bool:
    """Give the collection a new name; False when the member already has another one of that name."""
    name = " ".join(name.split())[:MAX_NAME]
    if not name:
        raise ValueError("a collection needs a name")
    try:
        with store.write() as conn:
            conn.execute(update(collections).where(collections.c.id == collection_id).values(name=name))
    except IntegrityError:
        return False
    return True


def named(store: Store, user_id: int, name: str) -> Collection | None:
    """The member's collection of that name (as `create` would normalise it), or None."""
    name = " ".join(name.split())[:MAX_NAME]
    with store.read() as conn:
        r = conn.execute(select(collections.c.id).where(collections.c.user_id == user_id,
                                                        collections.c.name == name)).first()
    return get(store, r[0]) if r else None


def add_many(store: Store, collection_id: int, paper_pks: Sequence[int]) -> int:
    """Save several papers in one transaction (a library import); how many were new to the collection."""
    now = utcnow()
    with store.write() as conn:
        have = set(conn.execute(select(collection_items.c.paper_pk)
                                .where(collection_items.c.collection_id == collection_id)).scalars())
        new = [pk for pk in dict.fromkeys(paper_pks) if pk not in have]
        if new:
            conn.execute(insert(collection_items), [{"collection_id": collection_id, "paper_pk": pk, "created_at": now}
                                                    for pk in new])
    return len(new)
