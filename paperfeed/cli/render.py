"""How results are printed: the papers-page text form, JSON, or a rich table.

One score scale for everything the CLI prints (`score` in the table and in JSON): the fused
reciprocal-rank score divided by the best score the fusion can give, so 1.00 means "ranked first by
keyword AND by meaning within its block".  Search fuses two rankings with weight 1 each, so its best is
2/(K+1); `similar` weighs meaning twice, so its best is 3/(K+1).  A paper found by one ranking only
scores at most 0.50 (search) or 0.33 / 0.67 (similar, keyword / meaning).  Results still come in blocks
(phrase, all terms, related): the score orders papers within a block, the block comes first.  A
filter-only query lists papers newest first and has no score (shown as "-").
"""

from __future__ import annotations

import json
from datetime import date

from rich.console import Console
from rich.table import Table

from paperfeed.models import Paper
from paperfeed.search.hybrid import RRF_K, SIMILAR_WEIGHTS, Result

SEARCH_BEST = 2.0 / (RRF_K + 1)
SIMILAR_BEST = sum(SIMILAR_WEIGHTS) / (RRF_K + 1)


def relevance(r: Result, best: float = SEARCH_BEST) -> float | None:
    """`r.score` on the 0..1 scale described above; None for newest-first listings (no ranking)."""
    if r.block == "newest":
        return None
    return min(1.0, r.score / best)


def paper_json(p: Paper) -> dict:
    return {
        "id": p.id,
        "title": p.title,
        "abstract": p.abstract,
        "authors": p.authors,
        "categories": p.categories,
        "date": (p.listed or p.published).isoformat() if (p.listed or p.published) else None,
        "published": p.published.isoformat() if p.published else None,
        "updated": p.updated.isoformat() if p.updated else None,
        "arxiv_id": p.arxiv_id,
        "doi": p.doi,
        "links": p.links,
        "comment": p.comment,
        "sources": p.sources,
    }


def results_json(results: list[Result], best: float = SEARCH_BEST) -> str:
    out = []
    for r in results:
        d = paper_json(r.paper)
        rel = relevance(r, best)
        d.update(score=None if rel is None else round(rel, 4), match=r.block, similarity=None if r.similarity is None
                 else round(r.similarity, 4))
        out.append(d)
    return json.dumps(out, ensure_ascii=False, indent=2)


def results_page(results: list[Result], today: date | None = None) -> str:
    from paperfeed.cli.page_text import render_page

    return render_page([(r.paper.title, r.paper.abstract) for r in results], today or date.today())


def authors_short(authors: list[str], keep: int = 3) -> str:
    """"A, B, C et al. (12)": enough to recognise a paper, short enough for a table cell."""
    if len(authors) <= keep:
        return ", ".join(authors)
    return f"{', '.join(authors[:keep])} et al. ({len(authors)})"


def results_table(results: list[Result], console: Console, best: float = SEARCH_BEST, first: int = 1) -> None:
    t = Table(show_lines=False, expand=True)
    t.add_column("#", justify="right", width=4)
    t.add_column("id", no_wrap=True)
    t.add_column("date", no_wrap=True)
    t.add_column("title", ratio=3)
    t.add_column("authors", ratio=2)
    t.add_column("match", no_wrap=True)
    t.add_column("score", justify="right")
    for i, r in enumerate(results, first):
        d = r.paper.listed or r.paper.published
        rel = relevance(r, best)
        t.add_row(str(i), _plain(r.paper.id), d.isoformat() if d else "", _plain(r.paper.title),
                  _plain(authors_short(r.paper.authors)), r.block, "-" if rel is None else f"{rel:.2f}")
    console.print(t)


def count_line(total: int | None, offset: int, shown: int, *, related: bool) -> str:
    """"1,234 results; showing 1–20" (stderr, above the table).  `total` counts the papers that hold
    at least one word of the query and pass its filters; `related` says papers close in meaning may
    follow beyond them (hybrid and semantic search), which no exact count covers."""
    if shown == 0:
        return "no papers match" if not total else f"{total:,} results; none at offset {offset:,}"
    span = f"showing {offset + 1:,}–{offset + shown:,}"
    if total is None:
        return f"{span} (nearest by meaning)"
    total = max(total, offset + shown)
    return f"{total:,} result{'s' if total != 1 else ''}{' + related by meaning' if related else ''}; {span}"


def _plain(s: str) -> str:
    """Rich would read `[...]` in titles as markup; escape it so text shows as given."""
    from rich.markup import escape

    return escape(s)
