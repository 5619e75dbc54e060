"""Hybrid search: literal matches first, then papers close in meaning.

Results come in blocks, the way a person reads a results page:

  block 0  "phrase":    the query's words appear as one phrase (title or abstract)
  block 1  "all terms": every word/phrase/prefix of the query appears
  block 2  "related":   some of the words appear, or the paper is a semantic neighbour

Before them, block "exact": the paper the query names by arXiv id or URL, by its exact title
(case/punctuation-folded) or by a misspelling of its title (search/exact.py), in every mode.

Every result satisfies the filters (cat:, since:, until:) and exclusions (-word).
Within a block the keyword and semantic rankings are fused by reciprocal rank:

    score(d) = 1 / (K + r_kw(d)) + 1 / (K + r_sem(d)),   K = 60

where r_kw is d's rank by BM25 within the block and r_sem its rank by cosine
similarity to the query embedding within the block (a missing rank adds 0).  Order
is (block, -score, paper id), so equal scores always come out the same way.

`similar` has no blocks: it fuses a paper's semantic neighbours with a more-like-this
keyword query as 1/(K + r_kw) + 2/(K + r_sem) (see SIMILAR_WEIGHTS).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from paperfeed.models import Paper, embedding_text
from paperfeed.search.derived import IndexCorrupt, IndexUnavailable
from paperfeed.search.lexical import LexicalIndex
from paperfeed.search.query import Query, parse_query
from paperfeed.search.semantic import SemanticIndex
from paperfeed.store.papers import Store

RRF_K = 60
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="paperfeed-embed")
_ANN_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="paperfeed-ann")
# "Similar papers" compares a whole paper with others, where meaning is the stronger signal:
# semantic rank counts twice, and the more-like-this query keeps a paper's 64 most telling words.
# Chosen on CSFCube (bench/relevance_csfcube.py; no separate tuning set exists): NDCG@20 0.584 with
# equal weights and 32 words, 0.605 with these (semantic alone 0.588, keyword alone 0.505).
SIMILAR_WEIGHTS = (1.0, 2.0)  # (keyword, semantic)
SIMILAR_TERMS = 64
# internal block 3 holds neighbours by meaning placed after every keyword match (partial coverage)
BLOCKS = ("phrase", "all terms", "related", "related")
EXACT = -1  # block index of the named paper(s), before every other block
MODES = ("hybrid", "keyword", "semantic")
# Candidates drawn from each ranking.  Fusion ranks are relative to the candidate set, so it must
# not depend on the page asked for: pages within the first CANDIDATES results are consistent.
CANDIDATES = 300
FILTER_FIRST_MAX = 8192  # filters allowing at most this many papers are applied before the vector search


@dataclass
class Result:
    pk: int
    paper: Paper
    score: float
    block: str
    kw_rank: int | None = None
    sem_rank: int | None = None
    similarity: float | None = None


@dataclass(frozen=True)
class SearchInfo:
    """How a result list was ranked, for the page and the API."""

    ranking: str  # "hybrid" (fused) | "keyword" | "semantic" | "newest"
    semantic_percent: float | None  # papers with a vector in the index, of all papers (None: not consulted)
    semantic: str  # "complete" | "partial" | "rebuilding" (vector index being rebuilt) | "off"

    @property
    def note(self) -> str | None:
        """One line for a results page while semantic search is not complete."""
        if self.semantic == "partial":
            return (f"Semantic search: {self.semantic_percent:g}% of papers embedded; "
                    "results are ranked by keywords until every paper is.")
        if self.semantic == "rebuilding":
            return "Semantic search is unavailable while its index is rebuilt; results are ranked by keywords."
        return None


class Ranked(list):  # list[Result] plus how it was ranked
    def __init__(self, results: list[Result], info: SearchInfo):
        super().__init__(results)
        self.info = info


def _ranks(scores: dict[int, float]) -> dict[int, int]:
    return {pk: i + 1 for i, (pk, _s) in enumerate(sorted(scores.items(), key=lambda kv: (-kv[1], kv[0])))}


def rrf(*rankings: dict[int, int], weights: tuple[float, ...] | None = None) -> dict[int, float]:
    """Reciprocal-rank fusion: sum of weight / (RRF_K + rank) over the rankings a paper is in."""
    out: dict[int, float] = {}
    for i, ranks in enumerate(rankings):
        w = weights[i] if weights else 1.0
        for pk, r in ranks.items():
            out[pk] = out.get(pk, 0.0) + w / (RRF_K + r)
    return out


class SearchEngine:
    """One object the CLI and the web share: keyword + semantic indexes over one store."""

    def __init__(self, store: Store, index_dir: Path):
        self.store = store
        self.lexical = LexicalIndex(index_dir / "lexical")
        self.semantic = SemanticIndex(index_dir / "semantic")

    def heal_in_background(self) -> None:
        """Web mode: a missing or corrupt index is rebuilt in a background thread, never in a request."""
        self.lexical.background_heal = self.semantic.background_heal = True

    def index_version(self) -> tuple:
        """Changes when an index starts or ends a rebuild in this process: part of every result cache key,
        so a keyword-only answer given while an index heals is not served after it is back."""
        return (self.lexical.rebuilding(), self.lexical._generation,
                self.semantic.rebuilding(), self.semantic._generation)

    def check_indexes(self) -> None:
        """Open both indexes, so a corrupt one is found (and its rebuild started) even before a search."""
        for idx in (self.lexical, self.semantic):
            try:
                try:
                    idx.check(self.store)
                except IndexCorrupt as e:
                    idx.recover(self.store, e)
            except (IndexUnavailable, IndexCorrupt):
                pass

    def vector_count(self) -> int:
        """Vectors in the index; 0 while it is rebuilt (a corrupt one is healed first, see derived.py)."""
        try:
            try:
                return len(self.semantic)
            except IndexCorrupt as e:
                self.semantic.recover(self.store, e)
                return len(self.semantic)
        except (IndexUnavailable, IndexCorrupt):
            return 0

    def _embed_query(self, text: str) -> np.ndarray | None:
        if not text.strip() or len(self.semantic) == 0:
            return None
        from paperfeed.search.embedder import get_embedder

        return get_embedder().embed_query(text)

    def _semantic_candidates(self, vec: np.ndarray, uq: Query, k: int) -> dict[int, float]:
        """Nearest papers by meaning that also satisfy the query's filters and exclusions.

        A narrow filter (few thousand papers) is applied first and searched exactly among the papers
        it allows; a broad one is applied after an over-fetch from the ANN graph.
        """
        if not (uq.categories or uq.since or uq.until or uq.negative):
            return dict(self.semantic.search(vec, k))
        fq = self.lexical.filter_query(uq)
        allowed = self.lexical.count(fq)
        if allowed <= FILTER_FIRST_MAX:
            keys = np.array([h.pk for h in self.lexical.search(fq, allowed)], dtype=np.uint64)
            return dict(self.semantic.search(vec, k, filter_keys=keys)) if len(keys) else {}
        sims = dict(self.semantic.search(vec, 4 * k))
        keep = {h.pk for h in self.lexical.search(self.lexical.restrict(fq, list(sims)), len(sims))} if sims else set()
        return dict(sorted(((pk, s) for pk, s in sims.items() if pk in keep), key=lambda kv: (-kv[1], kv[0]))[:k])

    def semantic_coverage(self) -> SearchInfo:
        """How much of the store the vector index covers now (loading, catching up or healing it)."""
        try:
            self.semantic.ensure_fresh(self.store)
            vectors = len(self.semantic)
        except IndexUnavailable:
            return SearchInfo("keyword", 0.0, "rebuilding")
        papers = self.paper_count()
        pct = 100.0 if papers == 0 else round(100.0 * min(vectors, papers) / papers, 1)
        if papers == 0 or vectors >= papers:
            return SearchInfo("hybrid", 100.0, "complete")
        return SearchInfo("keyword", min(pct, 99.9), "partial")

    def paper_count(self) -> int:
        """Papers in the keyword index (fresh: every search catches it up first), else in the store."""
        if not self.lexical.rebuilding():
            try:
                return int(self.lexical.index.searcher().num_docs)
            except IndexCorrupt:
                pass
        return self.store.count()

    def search(self, query: str | Query, limit: int = 20, offset: int = 0, mode: str = "hybrid") -> Ranked:
        """Ranked results (a list) with `.info` saying how they were ranked and the semantic coverage.

        Raises `IndexUnavailable` (web) while the keyword index is rebuilt; a vector index being rebuilt
        only makes the ranking keyword-only.  A corrupt index found mid-search is healed (see derived.py).
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        uq = parse_query(query) if isinstance(query, str) else query
        for attempt in range(3):
            try:
                return self._search(uq, limit, offset, mode)
            except IndexCorrupt as e:
                if attempt == 2:
                    raise
                e.index.recover(self.store, e)  # web: starts the rebuild and raises IndexUnavailable
            except IndexUnavailable as e:
                if e.index is not self.semantic or mode == "semantic":
                    raise
                mode = "keyword-only"  # the vector index broke mid-search: answer by keywords
        raise AssertionError("unreachable")

    def _search(self, uq: Query, limit: int, offset: int, mode: str) -> Ranked:
        self.lexical.ensure_fresh(self.store)
        if not uq.has_text:  # filters only: newest first
            return Ranked(self._newest(uq, limit, offset), SearchInfo("newest", None, "off"))
        if mode == "keyword-only":
            info, mode = SearchInfo("keyword", 0.0, "rebuilding"), "hybrid"
        elif mode == "keyword":
            info = SearchInfo("keyword", None, "off")
        else:
            info = self.semantic_coverage()
            if mode == "semantic":
                if info.semantic == "rebuilding":
                    raise IndexUnavailable(self.semantic)
                info = SearchInfo("semantic", info.semantic_percent, info.semantic)
        # Fused ranking only over a complete vector index (see the module docstring): otherwise a paper's
        # place would depend on whether it, or a neighbour, has been embedded yet.
        fuse = mode == "semantic" or info.ranking == "hybrid"
        use_vectors = mode != "keyword" and info.semantic != "rebuilding"
        k = max(CANDIDATES, offset + limit)  # fixed, so every page ranks the same candidates

        # The query embedding (torch, which releases the GIL) runs beside the keyword queries, and the
        # nearest-neighbour search that needs it beside the costliest keyword query (any term), so on two
        # cores the two slowest steps overlap instead of adding up.  Separate pools: an ANN task waits for
        # an embedding task, never the other way round, so concurrent searches cannot deadlock them.
        # Unfused (partial coverage), the vector is only needed when the keyword blocks leave room.
        pending_vec = _POOL.submit(self._embed_query, uq.free_text) if use_vectors and fuse else None
        blocks: list[dict[int, float]] = [{}, {}, {}, {}]
        lx = self.lexical
        if mode != "semantic":
            phrase = {h.pk: h.score for h in lx.search(lx.build(uq, "phrase"), k)}
            conj = {h.pk: h.score for h in lx.search(lx.build(uq, "and"), k) if h.pk not in phrase}
            blocks[0], blocks[1] = phrase, conj
        # Neighbours by meaning only land after the literal blocks: when those fill the page they cannot
        # show, so the ANN search is skipped (literal matches still get their exact cosine below, for the
        # fusion inside their blocks).  So is the any-term keyword query, which scores every paper holding
        # any word of the query.
        related_needed = mode == "semantic" or len(blocks[0]) + len(blocks[1]) < offset + limit

        def neighbours() -> dict[int, float]:
            v = pending_vec.result() if pending_vec is not None else None
            return self._semantic_candidates(v, uq, k) if v is not None else {}

        pending_sims = _ANN_POOL.submit(neighbours) if pending_vec is not None and related_needed else None
        if mode != "semantic" and related_needed:
            blocks[2] = {h.pk: h.score for h in lx.search(lx.build(uq, "or"), k)
                         if h.pk not in blocks[0] and h.pk not in blocks[1]}
        if use_vectors and not fuse and sum(map(len, blocks)) < offset + limit:
            pending_vec = _POOL.submit(self._embed_query, uq.free_text)
            pending_sims = _ANN_POOL.submit(neighbours)
        sims: dict[int, float] = pending_sims.result() if pending_sims is not None else {}
        vec = pending_vec.result() if pending_vec is not None else None
        if mode == "semantic":
            blocks = [{}, {}, {}, {}]
        # fused: neighbours join the "related" block; unfused: they come after every keyword match
        tail = blocks[2] if fuse else blocks[3]
        for pk in sims:
            if not any(pk in b for b in blocks[:3]):
                tail.setdefault(pk, float("-inf"))  # no keyword score: no keyword rank

        # exact cosine for every candidate, so the semantic rank covers literal matches too
        if vec is not None and fuse:
            cand = [pk for b in blocks for pk in b if pk not in sims]
            for pk, v in self.semantic.get(cand).items():
                sims[pk] = float(np.dot(v, vec))

        ordered: list[tuple[int, float, int, int | None, int | None]] = []
        named = self._named(uq)
        for rank, pk in enumerate(named):
            ordered.append((EXACT, 2.0 / (RRF_K + 1 + rank), pk, None, None))
        blocks = [{pk: s for pk, s in b.items() if pk not in named} for b in blocks]
        for bi, block in enumerate(blocks):
            if not block:
                continue
            kw = _ranks({pk: s for pk, s in block.items() if s != float("-inf")}) if mode != "semantic" else {}
            sem = _ranks({pk: sims[pk] for pk in block if pk in sims}) if fuse or bi == 3 else {}
            fused = rrf(kw, sem)
            for pk in block:
                ordered.append((bi, fused.get(pk, 0.0), pk, kw.get(pk), sem.get(pk)))
        return Ranked(self._materialise(ordered, sims, limit, offset), info)

    def _named(self, uq: Query) -> list[int]:
        """The papers this query names (search/exact.py), best first: the arXiv id, then exact titles,
        then misspelt ones; each must satisfy the query's filters and exclusions."""
        from paperfeed.search.exact import title_candidates, title_match

        out: list[int] = []
        if uq.paper_ref is not None:
            pk = self.store.pk_of(uq.paper_ref)
            if pk is not None:
                out.append(pk)
        else:
            text = " ".join(c.text for c in uq.positive if c.field in (None, "title"))
            cands = title_candidates(self.lexical, text)
            if cands:
                papers = self.store.get_many(cands)
                graded = sorted((g, i, pk) for i, pk in enumerate(cands) if pk in papers
                                for g in [title_match(text, papers[pk].title)] if g >= 0)
                out = [pk for _g, _i, pk in graded]
        if out and (uq.categories or uq.since or uq.until or uq.negative):
            lx = self.lexical
            keep = {h.pk for h in lx.search(lx.restrict(lx.filter_query(uq), out), len(out))}
            out = [pk for pk in out if pk in keep]
        return out

    def _materialise(self, ordered, sims, limit, offset) -> list[Result]:  # type: ignore[no-untyped-def]
        """Order candidates by (block, -score, paper id) and load the page's papers.

        Paper ids are looked up only for candidates whose (block, score) ties with another's
        on this page: everything else is already in its place.
        """
        ordered.sort(key=lambda o: (o[0], -o[1], o[2]))
        lo, hi = offset, offset + limit
        if hi > lo and ordered[lo:hi]:
            first, last = ordered[lo][:2], ordered[min(hi, len(ordered)) - 1][:2]
            while lo > 0 and ordered[lo - 1][:2] == first:
                lo -= 1
            while hi < len(ordered) and ordered[hi][:2] == last:
                hi += 1
            window = ordered[lo:hi]
            keys = [o[:2] for o in window]
            tied = [o[2] for i, o in enumerate(window)
                    if (i > 0 and keys[i - 1] == keys[i]) or (i + 1 < len(keys) and keys[i + 1] == keys[i])]
            if tied:
                ids = self.store.ids_of(tied)
                window.sort(key=lambda o: (o[0], -o[1], ids.get(o[2], "")))
                ordered[lo:hi] = window
        page = ordered[offset : offset + limit]
        papers = self.store.get_many([o[2] for o in page])
        return [Result(pk, papers[pk], score, "exact" if bi == EXACT else BLOCKS[bi], kwr, semr, sims.get(pk))
                for bi, score, pk, kwr, semr in page if pk in papers]

    def _newest(self, uq: Query, limit: int, offset: int) -> list[Result]:
        import tantivy

        searcher = self.lexical.index.searcher()
        try:
            res = searcher.search(self.lexical.filter_query(uq), limit, count=False, order_by_field="day",
                                  offset=offset, order=tantivy.Order.Desc)
            pks = [int(searcher.doc(a)["pk"][0]) for _s, a in res.hits]
        except (ValueError, OSError) as e:
            raise IndexCorrupt(self.lexical, str(e)[:300]) from None
        papers = self.store.get_many(pks)
        return [Result(pk, papers[pk], 0.0, "newest") for pk in pks if pk in papers]

    def similar(self, paper_id: str, limit: int = 10, within: list[str] | None = None,
                mode: str = "hybrid") -> Ranked:
        """Papers like this one: its semantic neighbours fused (RRF) with a more-like-this keyword query.

        `within` restricts the answer to a candidate pool (e.g. the judged papers of a relevance benchmark).
        While the vector index is partial the answer is the keyword side alone, with the neighbours by
        meaning after it (as in `search`); while the keyword index is rebuilt, the semantic side alone.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        pk = self.store.pk_of(paper_id)
        if pk is None:
            raise KeyError(paper_id)
        for attempt in range(3):
            try:
                return self._similar(pk, limit, within, mode)
            except IndexCorrupt as e:
                if attempt == 2:
                    raise
                try:
                    e.index.recover(self.store, e)
                except IndexUnavailable:
                    continue  # the next attempt finds it rebuilding and leaves that side out
        raise AssertionError("unreachable")

    def _similar(self, pk: int, limit: int, within: list[str] | None, mode: str) -> Ranked:
        try:
            self.lexical.ensure_fresh(self.store)
            keyword_ok = True
        except IndexUnavailable:
            keyword_ok = False
        info = self.semantic_coverage() if mode != "keyword" else SearchInfo("keyword", None, "off")
        vectors_ok = mode != "keyword" and info.semantic != "rebuilding"
        if not keyword_ok and not vectors_ok:
            raise IndexUnavailable(self.lexical)
        if mode == "semantic" or (mode == "hybrid" and not keyword_ok):
            info, mode = SearchInfo("semantic", info.semantic_percent, info.semantic), "semantic"
        fuse = mode == "semantic" or (mode == "hybrid" and info.ranking == "hybrid")
        paper = self.store.get_many([pk])[pk]
        vec = self.semantic.get([pk]).get(pk) if vectors_ok else None
        if vec is None and vectors_ok and len(self.semantic):
            from paperfeed.search.embedder import get_embedder

            vec = get_embedder().embed([embedding_text(paper.title, paper.abstract)])[0]
        mlt = self.lexical.text_query(f"{paper.title} {paper.abstract}", max_terms=SIMILAR_TERMS) if keyword_ok \
            else None
        if within is not None:
            pool = [c for c in (self.store.pk_of(i) for i in within) if c is not None and c != pk]
            kw_hits = self.lexical.search(self.lexical.restrict(mlt, pool), len(pool)) if mlt and pool else []
            sims = {}
        else:
            k = max(100, 3 * limit)
            pool = []
            kw_hits = self.lexical.search(mlt, k + 1) if mode != "semantic" else []
            sims = dict(self.semantic.search(vec, k + 1)) if vec is not None else {}
        kw = {h.pk: h.score for h in kw_hits}
        for d in (sims, kw):
            d.pop(pk, None)
        if vec is not None:
            for c, v in self.semantic.get([c for c in {*kw, *pool} if c not in sims]).items():
                sims[c] = float(np.dot(v, vec))
        if mode == "semantic":
            ordered = [(2, s, c, None, None) for c, s in rrf(_ranks(sims)).items()]
        elif mode == "keyword" or not fuse:
            # keyword side first; neighbours by meaning (partial coverage) only after it
            ordered = [(2, s, c, None, None) for c, s in rrf(_ranks(kw)).items()]
            if mode != "keyword":
                ordered += [(3, s, c, None, None) for c, s in rrf(_ranks({c: v for c, v in sims.items()
                                                                           if c not in kw})).items()]
            seen = {o[2] for o in ordered}
            ordered += [(3, 0.0, c, None, None) for c in pool if c not in seen]
        else:
            fused = rrf(_ranks(kw), _ranks(sims), weights=SIMILAR_WEIGHTS)
            ordered = [(2, fused.get(c, 0.0), c, None, None) for c in {*fused, *pool}]
        return Ranked(self._materialise(ordered, sims, limit, 0), info)
