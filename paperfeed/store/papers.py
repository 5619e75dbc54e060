"""The store: the source of truth for papers, embeddings and small durable state.

Written in SQLAlchemy Core; what SQLite and PostgreSQL spell differently is in `dialect.py`,
their engine set-up in `engine.py`.

The change feed.  Every write of papers or embeddings stamps its rows with a new value of the
store-wide counter `seq` (`next_seq`), and a derived index catches up by asking for "rows with
seq > N" and then recording the high-water mark it read (`papers_seq` / `current_seq`).  That is
only correct if seqs become visible in commit order: were a transaction holding seq 5 still
open while one holding seq 6 commits, an index could read 6 as the mark, apply it, and never look
at seq 5 again.  So a writer takes its seq with an UPDATE of the counter's row, which holds that
row's write lock until the transaction ends; the next writer's UPDATE waits for it, and only
then reads the committed value and adds one.  Hence, for seqs a < b, the transaction of a has
ended (committed or rolled back) before b was even assigned, so when any reader sees b
committed, every a < b that will ever exist is already visible: reading "everything after N"
never skips a row.  On SQLite, writers are serialised anyway (BEGIN IMMEDIATE, `engine.py`);
on PostgreSQL the counter's row lock does it, for writers of papers and embeddings only (votes,
subscriptions and the ledger never take a seq and stay concurrent).  The price: those writers
commit one at a time, as on SQLite.  `tests/test_store.py::test_change_feed_*` runs concurrent
writers against a catching-up reader.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import Connection, Engine, Integer, Text, cast, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from paperfeed.config import DbLocation, locate
from paperfeed.models import Paper, make_paper_id
from paperfeed.store import dialect
from paperfeed.store.engine import migrate, open_engine
from paperfeed.store.merge import can_merge_by_title, merge
from paperfeed.store.schema import embeddings, kv, papers

_LOOKUP_CHUNK = 500  # bound IN (...) lists well below SQLite's variable limit


@dataclass
class WriteCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0


def paper_from_row(r) -> Paper:  # type: ignore[no-untyped-def]
    return Paper(
        id=r.id,
        title=r.title,
        abstract=r.abstract,
        authors=json.loads(r.authors),
        categories=json.loads(r.categories),
        arxiv_id=r.arxiv_id,
        doi=r.doi,
        published=r.published,
        updated=r.updated,
        listed=r.listed,
        links=json.loads(r.links),
        comment=r.comment,
        sources=json.loads(r.sources),
    )


def _row_values(p: Paper) -> dict:
    return {
        "id": p.id,
        "arxiv_id": p.arxiv_id,
        "doi": p.doi,
        "title_key": p.title_key,
        "title": p.title,
        "abstract": p.abstract,
        "authors": json.dumps(p.authors, ensure_ascii=False),
        "categories": json.dumps(p.categories),
        "published": p.published,
        "updated": p.updated,
        "listed": p.listed,
        "links": json.dumps(p.links, sort_keys=True),
        "comment": p.comment,
        "sources": json.dumps(p.sources),
        "content_hash": p.content_hash(),
    }


class StoreConflict(Exception):
    """A write broke a uniqueness rule of the store (e.g. two papers with one id); nothing of it was kept."""


class PaperBatch:
    """Papers written in one transaction under one change-counter value (see `Store.paper_batch`)."""

    def __init__(self, store: Store, conn: Connection):
        self.store, self.conn = store, conn
        self._seq: int | None = None

    @property
    def seq(self) -> int:
        if self._seq is None:
            self._seq = self.store.next_seq(self.conn)
        return self._seq

    def upsert(self, batch: Sequence[Paper]) -> WriteCounts:
        return self.store.upsert(self.conn, batch, self.seq)

    def set_state(self, key: str, value: dict | None) -> None:
        """Save state with the papers of this transaction (e.g. the harvest token of the page they came from)."""
        self.store.set_state_in(self.conn, key, value)


class Store:
    """Papers and their embeddings.  Writes go through `write()`: one transaction, whole or nothing."""

    def __init__(self, engine: Engine, path: Path | None = None):
        self.engine = engine
        self.path = path  # the SQLite file; None for a server database

    @classmethod
    def open(cls, db: DbLocation | Path | str) -> Store:
        """Open (and migrate) the database: a SQLite path, a `postgresql://` URL, or a `DbLocation`."""
        location = locate(db)
        engine = open_engine(location.db)
        migrate(engine)
        store = cls(engine, location.sqlite_path if location.is_sqlite else None)
        store._ensure_identity()
        return store

    def close(self) -> None:
        self.engine.dispose()

    # -- transactions -------------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction that holds the database's write lock from its first statement."""
        with self.engine.connect().execution_options(write=True) as conn, conn.begin():
            yield conn

    @contextmanager
    def paper_batch(self) -> Iterator[PaperBatch]:
        """A write transaction for papers: whole or nothing; a broken uniqueness rule is `StoreConflict`."""
        try:
            with self.write() as conn:
                yield PaperBatch(self, conn)
        except IntegrityError as e:
            raise StoreConflict(str(e.orig)) from e

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def next_seq(self, conn: Connection) -> int:
        """A new value of the store-wide change counter (call inside a write transaction, before its writes).

        The increment is one UPDATE, which locks the counter's row until this transaction ends: writers
        that take a seq commit in seq order (see the module docstring)."""
        bumped = update(kv).where(kv.c.key == "seq").values(value=cast(cast(kv.c.value, Integer) + 1, Text))
        if not conn.execute(bumped).rowcount:  # a store opened before the counter row was seeded at open
            conn.execute(dialect.insert_ignore(conn, kv).values(key="seq", value="0"))
            conn.execute(bumped)
        return int(conn.execute(select(kv.c.value).where(kv.c.key == "seq")).scalar_one())

    def current_seq(self) -> int:
        with self.read() as conn:
            return int(conn.execute(select(kv.c.value).where(kv.c.key == "seq")).scalar() or 0)

    def papers_seq(self) -> int:
        """The newest change to papers (not to embeddings): all the keyword index depends on.

        Safe as a high-water mark because changes commit in `seq` order (`next_seq`), so nothing
        below this value can still appear.
        """
        with self.read() as conn:
            return int(conn.execute(select(func.max(papers.c.seq))).scalar() or 0)

    def _ensure_identity(self) -> None:
        """The store's identity and its change counter's row, created once (by whichever process opens
        a new database first: the inserts skip a row another one made)."""
        if self.get_state("store_id") is None or self._seq_row_missing():
            with self.write() as conn:
                conn.execute(dialect.insert_ignore(conn, kv).values(
                    key="store_id", value=json.dumps({"id": uuid.uuid4().hex})))
                conn.execute(dialect.insert_ignore(conn, kv).values(key="seq", value="0"))

    def _seq_row_missing(self) -> bool:
        with self.read() as conn:
            return conn.execute(select(kv.c.key).where(kv.c.key == "seq")).first() is None

    @property
    def store_id(self) -> str:
        state = self.get_state("store_id")
        assert state is not None
        return str(state["id"])

    # -- key/value state (harvest resumption, identity) ------------------------------------------

    def get_state(self, key: str) -> dict | None:
        with self.read() as conn:
            v = conn.execute(select(kv.c.value).where(kv.c.key == key)).scalar()
        return json.loads(v) if v is not None else None

    def set_state(self, key: str, value: dict | None) -> None:
        with self.write() as conn:
            self.set_state_in(conn, key, value)

    @staticmethod
    def set_state_in(conn: Connection, key: str, value: dict | None) -> None:
        """Save state inside the caller's transaction (e.g. a harvest token with the page it follows)."""
        conn.execute(kv.delete().where(kv.c.key == key))
        if value:
            conn.execute(insert(kv).values(key=key, value=json.dumps(value)))

    # -- papers: writing --------------------------------------------------------------------------

    def find_matches(self, conn: Connection, batch: Sequence[Paper]) -> dict[int, tuple[int, Paper]]:
        """For each incoming paper (by position), the stored paper it is the same as, if any."""
        ids = {p.id for p in batch}
        aids = {p.arxiv_id for p in batch if p.arxiv_id}
        dois = {p.doi for p in batch if p.doi}
        tkeys = {p.title_key for p in batch}
        rows: dict[int, Paper] = {}
        for col, values in ((papers.c.id, ids), (papers.c.arxiv_id, aids), (papers.c.doi, dois),
                            (papers.c.title_key, tkeys)):
            vals = list(values)
            for i in range(0, len(vals), _LOOKUP_CHUNK):
                for r in conn.execute(select(papers).where(col.in_(vals[i : i + _LOOKUP_CHUNK]))):
                    rows[r.pk] = paper_from_row(r)
        by_id = {p.id: pk for pk, p in rows.items()}
        by_aid = {p.arxiv_id: pk for pk, p in rows.items() if p.arxiv_id}
        by_doi = {p.doi: pk for pk, p in rows.items() if p.doi}
        by_title: dict[str, list[int]] = {}
        for pk, p in rows.items():
            by_title.setdefault(p.title_key, []).append(pk)
        out: dict[int, tuple[int, Paper]] = {}
        for i, p in enumerate(batch):
            found = by_id.get(p.id) or (p.arxiv_id and by_aid.get(p.arxiv_id)) or (p.doi and by_doi.get(p.doi))
            if not found:
                found = next((c for c in sorted(by_title.get(p.title_key, [])) if can_merge_by_title(rows[c], p)),
                             None)
            if found:
                out[i] = (found, rows[found])
        return out

    def upsert(self, conn: Connection, batch: Sequence[Paper], seq: int) -> WriteCounts:
        """Insert new papers and merge known ones, inside the caller's write transaction."""
        counts = WriteCounts()
        now = datetime.now(UTC).replace(tzinfo=None)
        # Fold duplicates inside the batch first, so the lookups see one record per paper.
        folded: list[Paper] = []
        seen: dict[str, int] = {}
        for p in batch:
            keys = [k for k in (p.id, p.arxiv_id and "a:" + p.arxiv_id, p.doi and "d:" + p.doi) if k]
            j = next((seen[k] for k in keys if k in seen), None)
            if j is None:
                t = seen.get("t:" + p.title_key)
                if t is not None and can_merge_by_title(folded[t], p):
                    j = t
            if j is None:
                j = len(folded)
                folded.append(p)
            else:
                folded[j] = merge(folded[j], p)
                counts.unchanged += 1  # the second copy adds nothing new on its own
            for k in [*keys, "t:" + p.title_key]:
                seen.setdefault(k, j)
        matches = self.find_matches(conn, folded)
        new_rows = []
        pending: dict[int, Paper] = {}
        for i, p in enumerate(folded):
            if i in matches:
                pk, old = matches[i]
                if pk in pending:  # two incoming records matched the same stored paper
                    old = pending[pk]
                merged = merge(old, p)
                if merged == old:
                    counts.unchanged += 1
                    continue
                pending[pk] = merged
            else:
                new_rows.append({**_row_values(p), "seq": seq, "created_at": now, "updated_at": now})
        for pk, merged in pending.items():
            self._keep_ids_unique(conn, pk, merged)
            conn.execute(
                update(papers).where(papers.c.pk == pk).values(**_row_values(merged), seq=seq, updated_at=now)
            )
        counts.updated += len(pending)
        if new_rows:
            conn.execute(insert(papers), new_rows)
            counts.added += len(new_rows)
        return counts

    @staticmethod
    def _keep_ids_unique(conn: Connection, pk: int, merged: Paper) -> None:
        """A merge must not take an id another stored paper already has (say a DOI that a
        library export wrongly gave to this arXiv paper): keep this paper's own id instead."""
        old = conn.execute(select(papers.c.id, papers.c.arxiv_id, papers.c.doi).where(papers.c.pk == pk)).one()
        for attr, col in (("doi", papers.c.doi), ("arxiv_id", papers.c.arxiv_id), ("id", papers.c.id)):
            value = getattr(merged, attr)
            if value and value != getattr(old, attr) and conn.execute(
                select(papers.c.pk).where(col == value, papers.c.pk != pk)
            ).first():
                setattr(merged, attr, getattr(old, attr))
                if attr != "id":
                    merged.id = make_paper_id(merged.arxiv_id, merged.doi, merged.title)
                    if merged.id != old.id and conn.execute(
                        select(papers.c.pk).where(papers.c.id == merged.id, papers.c.pk != pk)
                    ).first():
                        merged.id = old.id

    # -- papers: reading --------------------------------------------------------------------------

    def get(self, paper_id: str) -> Paper | None:
        with self.read() as conn:
            r = conn.execute(
                select(papers).where(or_(papers.c.id == paper_id, papers.c.arxiv_id == paper_id))
            ).first()
        return paper_from_row(r) if r else None

    def pk_of(self, paper_id: str) -> int | None:
        with self.read() as conn:
            return conn.execute(
                select(papers.c.pk).where(or_(papers.c.id == paper_id, papers.c.arxiv_id == paper_id))
            ).scalar()

    def get_many(self, pks: Sequence[int]) -> dict[int, Paper]:
        out: dict[int, Paper] = {}
        with self.read() as conn:
            for i in range(0, len(pks), _LOOKUP_CHUNK):
                for r in conn.execute(select(papers).where(papers.c.pk.in_(list(pks[i : i + _LOOKUP_CHUNK])))):
                    out[r.pk] = paper_from_row(r)
        return out

    def ids_of(self, pks: Sequence[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        with self.read() as conn:
            for i in range(0, len(pks), _LOOKUP_CHUNK):
                chunk = list(pks[i : i + _LOOKUP_CHUNK])
                rows = conn.execute(select(papers.c.pk, papers.c.id).where(papers.c.pk.in_(chunk)))
                out.update((r[0], r[1]) for r in rows)
        return out

    def count(self) -> int:
        with self.read() as conn:
            return int(conn.execute(select(func.count()).select_from(papers)).scalar() or 0)

    def iter_changed(self, since_seq: int, chunk: int = 2000) -> Iterator[list[tuple[int, int, Paper]]]:
        """(pk, seq, paper) of papers written after `since_seq`, in pk order, in chunks."""
        last = 0
        while True:
            with self.read() as conn:
                rows = conn.execute(
                    select(papers)
                    .where(papers.c.seq > since_seq, papers.c.pk > last)
                    .order_by(papers.c.pk)
                    .limit(chunk)
                ).all()
            if not rows:
                return
            yield [(r.pk, r.seq, paper_from_row(r)) for r in rows]
            last = rows[-1].pk

    def count_changed(self, since_seq: int) -> int:
        with self.read() as conn:
            return int(
                conn.execute(select(func.count()).select_from(papers).where(papers.c.seq > since_seq)).scalar()
                or 0
            )

    def date_range(self) -> tuple[date | None, date | None]:
        with self.read() as conn:
            r = conn.execute(select(func.min(papers.c.listed), func.max(papers.c.listed))).first()
        return (r[0], r[1]) if r else (None, None)

    # -- embeddings -------------------------------------------------------------------------------

    def missing_embeddings(self, model: str, limit: int | None = None) -> list[tuple[str, str, str]]:
        """(content_hash, title, abstract) of texts with no embedding yet, newest listed first."""
        q = (
            # one row per text: papers with one content hash have one title and abstract (min() picks it)
            select(papers.c.content_hash, func.min(papers.c.title), func.min(papers.c.abstract))
            .outerjoin(
                embeddings,
                (embeddings.c.content_hash == papers.c.content_hash) & (embeddings.c.model == model),
            )
            .where(embeddings.c.content_hash.is_(None))
            .group_by(papers.c.content_hash)
            .order_by(func.max(func.coalesce(papers.c.listed, papers.c.published)).desc(), papers.c.content_hash)
        )
        if limit:
            q = q.limit(limit)
        with self.read() as conn:
            return [(r[0], r[1], r[2]) for r in conn.execute(q)]

    def count_embedded(self, model: str) -> int:
        with self.read() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(papers)
                    .join(
                        embeddings,
                        (embeddings.c.content_hash == papers.c.content_hash) & (embeddings.c.model == model),
                    )
                ).scalar()
                or 0
            )

    def put_embeddings(self, model: str, items: Iterable[tuple[str, np.ndarray]]) -> int:
        """Save vectors by content hash in one transaction; returns the seq they were stamped with."""
        with self.write() as conn:
            seq = self.next_seq(conn)
            rows = [
                {"content_hash": h, "model": model, "vector": np.asarray(v, dtype=np.float32).tobytes(), "seq": seq}
                for h, v in items
            ]
            if rows:
                conn.execute(dialect.insert_replace(conn, embeddings, ("content_hash", "model")), rows)
        return seq

    def vectors_of(self, model: str, pks: Sequence[int]) -> dict[int, np.ndarray]:
        """The stored embedding of each paper (as saved, float32; papers not embedded are absent)."""
        out: dict[int, np.ndarray] = {}
        with self.read() as conn:
            for i in range(0, len(pks), _LOOKUP_CHUNK):
                q = (select(papers.c.pk, embeddings.c.vector)
                     .join(embeddings, (embeddings.c.content_hash == papers.c.content_hash)
                           & (embeddings.c.model == model))
                     .where(papers.c.pk.in_(list(pks[i:i + _LOOKUP_CHUNK]))))
                for pk, blob in conn.execute(q):
                    out[pk] = np.frombuffer(blob, dtype=np.float32)
        return out

    def iter_vectors_changed(
        self, model: str, since_seq: int, chunk: int = 5000
    ) -> Iterator[tuple[np.ndarray, np.ndarray | None, np.ndarray]]:
        """(pks, vectors, pks_without_vector) for papers or embeddings written after `since_seq`."""
        last = 0
        while True:
            q = (
                select(papers.c.pk, embeddings.c.vector)
                .outerjoin(
                    embeddings,
                    (embeddings.c.content_hash == papers.c.content_hash) & (embeddings.c.model == model),
                )
                .where(or_(papers.c.seq > since_seq, embeddings.c.seq > since_seq), papers.c.pk > last)
                .order_by(papers.c.pk)
                .limit(chunk)
            )
            with self.read() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            have = [(r[0], r[1]) for r in rows if r[1] is not None]
            missing = np.array([r[0] for r in rows if r[1] is None], dtype=np.uint64)
            pks = np.array([h[0] for h in have], dtype=np.uint64)
            vecs = (
                np.frombuffer(b"".join(h[1] for h in have), dtype=np.float32).reshape(len(have), -1)
                if have
                else None
            )
            yield pks, vecs, missing
            last = rows[-1][0]
