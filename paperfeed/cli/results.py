"""How many papers a search matches, for the CLI's "1,234 results; showing 1–20" line.

Hybrid search has no closed result set: after the literal blocks come papers "related" by some words
or by meaning.  What can be counted exactly (tantivy counts without ranking, ~1 ms here) is the papers
that hold at least one word of the query and pass its filters; hybrid results may add papers close in
meaning beyond those, which the line says.  Keyword mode ranks the same any-word matches (BM25) after
its literal blocks, so its count is the same number.  Semantic mode ranks the nearest vectors, which no count covers.
"""

from __future__ import annotations

from paperfeed.search.hybrid import SearchEngine
from paperfeed.search.query import Query


def match_count(engine: SearchEngine, uq: Query, mode: str) -> int | None:
    """The exact number of papers the keyword side of this search matches; None for semantic mode."""
    lx = engine.lexical
    if not uq.has_text:
        return lx.count(lx.filter_query(uq))
    if mode == "semantic":
        return None
    q = lx.build(uq, "or")
    n = lx.count(q) if q is not None else 0
    if uq.paper_ref is not None and n == 0 and engine.store.pk_of(uq.paper_ref) is not None:
        n = 1  # the paper an id names is a result even if no word of the id is indexed
    return n
