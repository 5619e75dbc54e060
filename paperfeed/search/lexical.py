"""Keyword search: BM25 over title, abstract and authors, in a tantivy index.

Why tantivy and not SQLite FTS5: at a million papers FTS5 scores every match of a
common term before it can return the top ten, while tantivy's block-max WAND skips
most of them (figures in `bench/lexical_engines.py`).  The index is derived data: it
holds no text of its own (the store does), can be rebuilt at any time, and records
in `state.json` the store's change counter (`seq`) it has applied, so after a crash
it simply replays what it lacks.  Applying a paper is delete-by-pk then add, which is
idempotent, so replaying twice is harmless.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import tantivy
from tantivy import Filter, Occur, Query, TextAnalyzerBuilder, Tokenizer

from paperfeed.models import Paper
from paperfeed.search.derived import DerivedIndex, IndexCorrupt, IndexUnavailable
from paperfeed.search.query import Clause
from paperfeed.search.query import Query as UserQuery
from paperfeed.store.papers import Store

SCHEMA_VERSION = 1
# Field boosts: a word in the title says more about a paper than the same word in its abstract.
FIELD_BOOSTS = {"title": 3.0, "abstract": 1.0, "authors": 2.0}
CLAUSE_FIELDS = {None: ("title", "abstract", "authors"), "title": ("title",), "abstract": ("abstract",),
                 "author": ("authors",)}


def _analyzers() -> dict[str, tantivy.TextAnalyzer]:
    en = (
        TextAnalyzerBuilder(Tokenizer.simple())
        .filter(Filter.remove_long(40))
        .filter(Filter.lowercase())
        .filter(Filter.ascii_fold())
        .filter(Filter.stemmer("english"))
        .build()
    )
    names = (
        TextAnalyzerBuilder(Tokenizer.simple())
        .filter(Filter.remove_long(40))
        .filter(Filter.lowercase())
        .filter(Filter.ascii_fold())
        .build()
    )
    return {"en": en, "names": names}


ANALYZERS = _analyzers()
FIELD_ANALYZER = {"title": "en", "abstract": "en", "authors": "names"}


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("pk", stored=True, indexed=True, fast=True)
    sb.add_text_field("title", tokenizer_name="en")
    sb.add_text_field("abstract", tokenizer_name="en")
    sb.add_text_field("authors", tokenizer_name="names")
    sb.add_text_field("categories", tokenizer_name="raw", index_option="basic")
    sb.add_integer_field("day", indexed=True, fast=True)
    return sb.build()


def day_number(d: date | None) -> int:
    """Dates as sortable integers (20250318); 0 when unknown."""
    return d.year * 10000 + d.month * 100 + d.day if d else 0


@dataclass
class Hit:
    pk: int
    score: float


class LexicalIndex(DerivedIndex):
    def __init__(self, path: Path):
        super().__init__(path, {"schema": SCHEMA_VERSION})
        self.schema = _schema()
        self._index: tantivy.Index | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def index(self) -> tantivy.Index:
        if self._index is None:
            self.path.mkdir(parents=True, exist_ok=True)
            try:
                index = tantivy.Index(self.schema, path=str(self.path), reuse=True)
            except (ValueError, OSError) as e:  # tantivy reports corrupt or truncated files as ValueError
                raise IndexCorrupt(self, str(e)[:300]) from None
            for name, analyzer in ANALYZERS.items():
                index.register_tokenizer(name, analyzer)
            self._index = index
        return self._index

    def _reset(self) -> None:
        self._index = None

    def _probe(self) -> None:
        self.index  # noqa: B018 - opening is the check (and what the next query needs anyway)

    def _needs_build(self, store: Store) -> bool:
        return store.count() > 0

    def is_fresh(self, store: Store) -> bool:
        return self.applied_seq(store) >= store.papers_seq()

    def sync(self, store: Store, progress: Callable[[int, int], None] | None = None, rebuild: bool = False,
             heal: bool = True) -> int:
        """Apply every paper the store changed since this index's high-water mark; returns how many.

        A missing, foreign or corrupt index (or `rebuild`) is built afresh beside the old one and renamed
        into place (see `derived.py`); with `heal=False` corruption raises `IndexCorrupt` instead."""
        with self.writer_lock():
            self.follow_swaps()
            since = -1 if rebuild else self.applied_seq(store)
            if since < 0:
                return self._rebuild_locked(store, progress, None)
            target = store.papers_seq()
            if since >= target:
                return 0
            try:
                return self._apply(store, since, target, progress)
            except IndexCorrupt as e:
                if not heal:
                    raise
                return self._rebuild_locked(store, progress, e.reason)

    def _build(self, store: Store, progress: Callable[[int, int], None] | None) -> int:
        return self._apply(store, 0, store.papers_seq(), progress)

    def _apply(self, store: Store, since: int, target: int, progress: Callable[[int, int], None] | None) -> int:
        total = store.count_changed(since)
        try:
            writer = self.index.writer(heap_size=256_000_000, num_threads=min(2, os.cpu_count() or 1))
        except ValueError as e:
            raise IndexCorrupt(self, str(e)[:300]) from None
        done = 0
        try:
            for chunk in store.iter_changed(since):
                if since > 0:  # replace: drop the old documents of these papers first
                    # (by query: delete_documents_by_term would make a signed term and match nothing)
                    writer.delete_documents_by_query(
                        Query.term_set_query(self.schema, "pk", [pk for pk, _s, _p in chunk]))
                for pk, _seq, paper in chunk:
                    writer.add_document(self._document(pk, paper))
                done += len(chunk)
                if progress:
                    progress(done, total)
            writer.commit()
            writer.wait_merging_threads()
        except BaseException:
            writer.rollback()
            raise
        self.write_state(store, target)
        self.index.reload()
        return done

    def ensure_fresh(self, store: Store) -> None:
        """Make the index answerable now: catch up a few changes inline; a missing or corrupt index is
        rebuilt inline (command line) or in the background (web: raises `IndexUnavailable`)."""
        self.follow_swaps()
        if self.rebuilding():
            raise IndexUnavailable(self)
        try:
            self.check(store)
            if not self.is_fresh(store):
                self.sync(store, heal=not self.background_heal)
        except IndexCorrupt as e:
            self.recover(store, e)

    @staticmethod
    def _document(pk: int, p: Paper) -> tantivy.Document:
        doc = tantivy.Document()
        doc.add_unsigned("pk", pk)  # keyword arguments would make it a signed integer
        doc.add_text("title", p.title)
        doc.add_text("abstract", p.abstract)
        doc.add_text("authors", " ; ".join(p.authors))
        for c in p.categories:
            doc.add_text("categories", c.lower())
        doc.add_integer("day", day_number(p.listed or p.published))
        return doc

    # -- queries ----------------------------------------------------------------------------------

    def _clause(self, c: Clause) -> Query | None:
        parts = []
        for fld in CLAUSE_FIELDS[c.field]:
            toks = ANALYZERS[FIELD_ANALYZER[fld]].analyze(c.text)
            if not toks:
                continue
            if c.kind == "prefix":
                # the last token is the prefix; earlier ones (e.g. `multi-mod*`) make a phrase prefix
                q = (Query.phrase_prefix_query(self.schema, fld, toks) if len(toks) > 1
                     else Query.regex_query(self.schema, fld, toks[0] + ".*"))
            elif len(toks) == 1:
                q = Query.term_query(self.schema, fld, toks[0], index_option="freq")
            else:
                q = Query.phrase_query(self.schema, fld, toks)
            boost = FIELD_BOOSTS[fld] if c.field is None else 1.0
            parts.append((Occur.Should, Query.boost_query(q, boost) if boost != 1.0 else q))
        if not parts:
            return None
        return parts[0][1] if len(parts) == 1 else Query.boolean_query(parts)

    def _filters(self, uq: UserQuery) -> list[tuple[Occur, Query]]:
        out: list[tuple[Occur, Query]] = []
        if uq.categories:
            cats = []
            for c in uq.categories:
                c = c.lower()
                q = (Query.regex_query(self.schema, "categories", _regex_escape(c[:-1]) + ".*") if c.endswith("*")
                     else Query.term_query(self.schema, "categories", c))
                cats.append((Occur.Should, q))
            out.append((Occur.Must, Query.boolean_query(cats)))
        if uq.since or uq.until:
            out.append((Occur.Must, Query.range_query(
                self.schema, "day", tantivy.FieldType.Integer,
                day_number(uq.since) if uq.since else None, day_number(uq.until) if uq.until else None)))
        for c in uq.negative:
            q = self._clause(c)
            if q is not None:
                out.append((Occur.MustNot, q))
        return out

    def build(self, uq: UserQuery, mode: str) -> Query | None:
        """mode: 'and' (every clause), 'or' (any clause, BM25-ranked), 'phrase' (free words as one phrase)."""
        filters = self._filters(uq)
        pos = [q for q in (self._clause(c) for c in uq.positive) if q is not None]
        if mode == "phrase":
            words = [c.text for c in uq.positive if c.field is None and c.kind in ("term", "phrase")]
            if len(words) < 2 and not any(" " in w for w in words):
                return None
            pos = [q for q in [self._clause(Clause("phrase", " ".join(words)))] if q is not None]
            # the other clauses (prefixes, fielded words) must still hold
            pos += [q for q in (self._clause(c) for c in uq.positive
                                if not (c.field is None and c.kind in ("term", "phrase"))) if q is not None]
            mode = "and"
        if not pos:
            if uq.has_text:
                return None  # words that analyse to nothing (e.g. only punctuation)
            return Query.boolean_query([(Occur.Must, Query.all_query()), *filters])
        if mode == "and":
            return Query.boolean_query([*((Occur.Must, q) for q in pos), *filters])
        anyof = pos[0] if len(pos) == 1 else Query.boolean_query([(Occur.Should, q) for q in pos])
        return Query.boolean_query([(Occur.Must, anyof), *filters])

    def search(self, q: Query | None, limit: int) -> list[Hit]:
        if q is None or limit <= 0:
            return []
        try:
            searcher = self.index.searcher()
            res = searcher.search(q, limit, count=False)
            hits = [Hit(int(searcher.doc(addr)["pk"][0]), float(score)) for score, addr in res.hits]
        except (ValueError, OSError) as e:  # a segment file went bad under a loaded index
            raise IndexCorrupt(self, str(e)[:300]) from None
        hits.sort(key=lambda h: (-h.score, h.pk))  # deterministic order for equal scores
        return hits

    def count(self, q: Query) -> int:
        """How many papers match, without ranking them."""
        try:
            return int(self.index.searcher().search(q, 1, count=True).count)  # limit 0 makes tantivy panic
        except (ValueError, OSError) as e:
            raise IndexCorrupt(self, str(e)[:300]) from None

    def restrict(self, q: Query, pks: list[int]) -> Query:
        """`q` limited to the given papers (used to filter semantic neighbours and candidate pools)."""
        return Query.boolean_query([(Occur.Must, q), (Occur.Must, Query.term_set_query(self.schema, "pk", pks))])

    def filter_query(self, uq: UserQuery) -> Query:
        """Only the filters and exclusions of `uq` (what every semantic neighbour must satisfy)."""
        return Query.boolean_query([(Occur.Must, Query.all_query()), *self._filters(uq)])

    def text_query(self, text: str, max_terms: int = 32) -> Query | None:
        """An OR query of the most telling words of a text (more-like-this for "similar papers")."""
        searcher = self.index.searcher()
        n = max(searcher.num_docs, 1)
        tf: dict[str, int] = {}
        for tok in ANALYZERS["en"].analyze(text):
            if len(tok) > 2 and not tok.isdigit():
                tf[tok] = tf.get(tok, 0) + 1
        import math

        scored = []
        for tok, f in tf.items():
            df = searcher.doc_freq("abstract", tok) + 1
            scored.append(((1 + math.log(f)) * math.log(n / df), tok))
        scored.sort(reverse=True)
        terms = [t for _s, t in scored[:max_terms]]
        if not terms:
            return None
        parts = []
        for t in terms:
            for fld in ("title", "abstract"):
                q = Query.term_query(self.schema, fld, t, index_option="freq")
                parts.append((Occur.Should, Query.boost_query(q, FIELD_BOOSTS[fld]) if fld == "title" else q))
        return Query.boolean_query(parts)


def _regex_escape(s: str) -> str:
    return "".join("\\" + ch if not ch.isalnum() else ch for ch in s)
