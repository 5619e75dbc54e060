"""The personal feed's one entry point: the site, the API, the feeds and the mailer all call `FeedService`.

It loads a member's signals from the store (`paperfeed/store/signals.py`), takes the candidates (papers
listed in the newest `candidate_days` listing days), and hands both to the pure ranker
(`paperfeed.recommend.recommend`).  There is no per-member model to retrain: the ranker is closed-form
over the member's liked and dismissed papers, so a new signal changes the very next answer.

What is cached is the corpus side (`PaperFeatures`: tf-idf rows and embeddings), keyed by the store's
index version (papers' change counter and the number of stored embeddings for the model); any change to
papers or embeddings rebuilds it.  The corpus is the papers listed in the newest `corpus_days` days;
a member's liked or dismissed paper from before then is added to the cached features on first use
(its tf-idf row from the already-fitted vectoriser, no refit).  A paper with no embedding yet gets a zero
vector (cosine 0 to everything), so ranking does not wait for embedding to catch up.

Saved searches mean what they mean on the site: the candidates are put in an in-memory keyword index
with the site's schema and analyzers (`paperfeed.search.lexical`), and the search's matches become
`Signals.search_matches`.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import tantivy
from sklearn.feature_extraction.text import TfidfVectorizer

from paperfeed.config import MODEL_NAME
from paperfeed.models import Paper
from paperfeed.recommend.batch import recommend_many
from paperfeed.recommend.features import PaperFeatures
from paperfeed.recommend.ranker import Candidates, candidates_of, recommend
from paperfeed.recommend.signals import Like, Signals
from paperfeed.recommend.text import RANKER_TFIDF, fit_tfidf
from paperfeed.search.lexical import ANALYZERS, LexicalIndex
from paperfeed.search.query import QueryError, parse_query
from paperfeed.store import listings
from paperfeed.store import signals as signals_sql
from paperfeed.store.papers import Store

SEARCH_DEPTH = 200  # matches per saved search among the candidates (the digest's depth)
# A small corpus (a new install, a test store) has too few papers for min_df=2 / max_df=0.1: the
# vocabulary can come out empty.  Then every word seen is kept.
_SMALL_TFIDF = {**RANKER_TFIDF, "min_df": 1, "max_df": 1.0}


@dataclass(frozen=True)
class FeedPick:
    pk: int
    paper_id: str
    score: float
    reason: str
    because: str | None = None


class _CandidateText(LexicalIndex):
    """The candidates' keyword index, in memory (as the digest's window index)."""

    def __init__(self, items: Sequence[tuple[int, Paper]]):
        super().__init__(Path(os.devnull))
        idx = tantivy.Index(self.schema)
        for name, analyzer in ANALYZERS.items():
            idx.register_tokenizer(name, analyzer)
        writer = idx.writer(heap_size=50_000_000, num_threads=1)
        for pk, p in items:
            writer.add_document(self._document(pk, p))
        writer.commit()
        writer.wait_merging_threads()
        idx.reload()
        self._index = idx


@dataclass
class _Corpus:
    key: tuple[int, int]
    pf: PaperFeatures
    vectoriser: TfidfVectorizer
    pks: dict[str, int]  # paper id -> pk
    candidates: Candidates
    candidate_papers: list[tuple[int, Paper]]
    text: _CandidateText
    searches: dict[str, frozenset[str]]


def _text(p: Paper) -> str:
    return f"{p.title}. {p.abstract}"


def _unit(vecs: dict[int, np.ndarray], pks: Sequence[int], dim: int) -> np.ndarray:
    out = np.zeros((len(pks), dim), dtype=np.float32)
    for i, pk in enumerate(pks):
        v = vecs.get(pk)
        if v is not None and len(v) == dim:
            out[i] = v
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms > 0, norms, 1.0)


class FeedService:
    """Per-process service over one store (thread-safe: the corpus cache is swapped under a lock)."""

    def __init__(self, store: Store, model: str = MODEL_NAME, corpus_days: int = 60, candidate_days: int = 7):
        self.store = store
        self.model = model
        self.corpus_days = corpus_days
        self.candidate_days = candidate_days
        self._corpus: _Corpus | None = None
        self._lock = threading.Lock()

    # -- the corpus side, cached per index version --------------------------------------------------

    def index_version(self) -> tuple[int, int]:
        return self.store.papers_seq(), self.store.count_embedded(self.model)

    def _build(self, key: tuple[int, int]) -> _Corpus:
        newest = listings.latest_listed(self.store) or date.today()
        end = newest + timedelta(days=1)
        corpus = listings.listed_between(self.store, end - timedelta(days=self.corpus_days), end)
        pks = sorted(corpus, key=lambda pk: corpus[pk].id)
        papers_ = [corpus[pk] for pk in pks]
        texts = [_text(p) for p in papers_]
        try:
            vec, x = fit_tfidf(texts) if texts else fit_tfidf(["empty"], _SMALL_TFIDF)
        except ValueError:  # empty vocabulary: a small corpus
            vec, x = fit_tfidf(texts, _SMALL_TFIDF)
        if not texts:
            x = sp.csr_matrix((0, x.shape[1]), dtype=np.float32)
        vecs = self.store.vectors_of(self.model, pks)
        dim = len(next(iter(vecs.values()))) if vecs else 1
        pf = PaperFeatures(ids=[p.id for p in papers_], titles=[p.title for p in papers_],
                           vectors=_unit(vecs, pks, dim), tfidf=x,
                           categories=[tuple(p.categories) for p in papers_],
                           authors=[tuple(p.authors) for p in papers_])
        start = end - timedelta(days=self.candidate_days)
        cand = [(pk, corpus[pk]) for pk in pks if (corpus[pk].listed or start) >= start]
        return _Corpus(key, pf, vec, {p.id: pk for pk, p in zip(pks, papers_, strict=True)},
                       candidates_of(pf, [p.id for _, p in cand]), cand, _CandidateText(cand), {})

    def corpus(self) -> _Corpus:
        key = self.index_version()
        with self._lock:
            if self._corpus is None or self._corpus.key != key:
                self._corpus = self._build(key)
            return self._corpus

    def _ensure(self, c: _Corpus, paper_ids: Sequence[str]) -> _Corpus:
        """Add papers the corpus lacks (older likes and dismissals) as rows of the cached features."""
        missing = [pid for pid in dict.fromkeys(paper_ids) if pid not in c.pf.index]
        extra: list[tuple[int, Paper]] = []
        for pid in missing:
            pk = self.store.pk_of(pid)
            p = self.store.get(pid) if pk is not None else None
            if pk is not None and p is not None:
                extra.append((pk, p))
        if not extra:
            return c
        pf = c.pf
        vecs = self.store.vectors_of(self.model, [pk for pk, _ in extra])
        x = c.vectoriser.transform([_text(p) for _, p in extra]).astype(np.float32)
        new = PaperFeatures(ids=pf.ids + [p.id for _, p in extra], titles=pf.titles + [p.title for _, p in extra],
                            vectors=np.vstack([pf.vectors, _unit(vecs, [pk for pk, _ in extra], pf.vectors.shape[1])]),
                            tfidf=sp.vstack([pf.tfidf, x]).tocsr(),
                            categories=pf.categories + [tuple(p.categories) for _, p in extra],
                            authors=pf.authors + [tuple(p.authors) for _, p in extra])
        pks = {**c.pks, **{p.id: pk for pk, p in extra}}
        out = _Corpus(c.key, new, c.vectoriser, pks, candidates_of(new, c.candidates.ids), c.candidate_papers,
                      c.text, c.searches)
        with self._lock:
            if self._corpus is c:
                self._corpus = out
        return out

    def _search(self, c: _Corpus, query: str) -> frozenset[str]:
        hit = c.searches.get(query)
        if hit is None:
            try:
                q = c.text.build(parse_query(query), "and")
            except QueryError:
                q = None  # checked when saved; one that no longer parses matches nothing
            ids = {pk: p.id for pk, p in c.candidate_papers}
            hit = frozenset(ids[h.pk] for h in c.text.search(q, SEARCH_DEPTH) if h.pk in ids) if ids else frozenset()
            c.searches[query] = hit
        return hit

    # -- what callers ask ------------------------------------------------------------------------------

    def signals(self, user_id: int, c: _Corpus | None = None) -> Signals:
        c = c or self.corpus()
        return self._signals_of(signals_sql.raw_signals(self.store, user_id), c)

    def _signals_of(self, raw: signals_sql.RawSignals, c: _Corpus) -> Signals:
        return Signals(
            liked=tuple(Like(pid, kind, coll) for pid, kind, coll in raw.liked),  # type: ignore[arg-type]
            dismissed=tuple(raw.dismissed),
            followed_authors=tuple(v for k, v in raw.follows if k == "author"),
            followed_categories=tuple(v for k, v in raw.follows if k == "category"),
            search_matches={v: self._search(c, v) for k, v in raw.follows if k == "search"},
            exclude=frozenset(raw.exclude),
        )

    def for_member(self, user_id: int, limit: int | None = 50, include_seen: bool = False) -> list[FeedPick]:
        """The member's picks among the candidates, best first, each with its reason ([] at cold start).
        `include_seen`: papers already shown in a digest or opened may come back ("show again"); dismissed
        papers never do (the member undoes a dismissal instead)."""
        c = self.corpus()
        s = self.signals(user_id, c)
        if include_seen:
            s = dataclasses.replace(s, exclude=frozenset())
        if s.is_empty:
            return []
        c = self._ensure(c, [lk.paper_id for lk in s.liked] + list(s.dismissed))
        return self._picks(c, s, limit)

    def order(self, user_id: int, pks: Sequence[int]) -> list[int]:
        """`pks` (a daily list) in "For you" order: picks first, the rest (and everyone at cold start) as given.
        Dismissed papers go last rather than vanish: the list is the day's list, not the feed."""
        picks = [p.pk for p in self.for_member(user_id, None)]
        wanted = set(pks)
        first = [pk for pk in picks if pk in wanted]
        seen = set(first)
        return first + [pk for pk in pks if pk not in seen]

    def like_these(self, paper_ids: Sequence[str], name: str, limit: int | None = 50,
                   exclude: Sequence[str] = ()) -> list[FeedPick]:
        """"More like this collection": one model per collection, its papers as the only likes."""
        c = self._ensure(self.corpus(), paper_ids)
        s = Signals(liked=tuple(Like(pid, "saved", name) for pid in paper_ids), exclude=frozenset(exclude))
        return self._picks(c, s, limit)

    def for_members(self, user_ids: Sequence[int], paper_ids: Sequence[str], limit: int | None,
                    exclude: dict[int, set[str]] | None = None) -> dict[int, list[FeedPick]]:
        """Each member's picks among `paper_ids` (a digest's window), batched (recommend/batch.py): the
        same ranking `for_member` would give over those candidates.  `exclude`: more papers per member
        that must not be picked (the digest's earlier issues)."""
        c = self.corpus()
        raws = signals_sql.raw_signals_many(self.store, user_ids)  # a few queries per 900 members, not 7 each
        sigs = {u: self._signals_of(raws[u], c) for u in dict.fromkeys(user_ids)}
        if exclude:
            sigs = {u: replace(s, exclude=s.exclude | frozenset(exclude.get(u, ()))) for u, s in sigs.items()}
        need = list(paper_ids) + [lk.paper_id for s in sigs.values() for lk in s.liked]
        c = self._ensure(c, need + [p for s in sigs.values() for p in s.dismissed])
        cs = candidates_of(c.pf, paper_ids)
        users = [u for u, s in sigs.items() if not s.is_empty]
        picks = recommend_many([sigs[u] for u in users], cs, c.pf, limit)
        out: dict[int, list[FeedPick]] = {u: [] for u in sigs}
        for u, ps in zip(users, picks, strict=True):
            out[u] = [FeedPick(c.pks[p.paper_id], p.paper_id, p.score, p.reason, p.because) for p in ps]
        return out

    def _picks(self, c: _Corpus, s: Signals, limit: int | None) -> list[FeedPick]:
        return [FeedPick(c.pks[p.paper_id], p.paper_id, p.score, p.reason, p.because)
                for p in recommend(s, c.candidates, c.pf, limit)]
