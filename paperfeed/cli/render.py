"""How results are printed: the papers-page text form, JSON, or a rich table."""

from __future__ import annotations

import json
from datetime import date

from rich.console import Console
from rich.table import Table

from paperfeed.models import Paper
from paperfeed.search.hybrid import Result


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


def results_json(results: list[Result]) -> str:
    out = []
    for r in results:
        d = paper_json(r.paper)
        d.update(score=round(r.score, 6), match=r.block, similarity=None if r.similarity is None
                 else round(r.similarity, 4))
        out.append(d)
    return json.dumps(out, ensure_ascii=False, indent=2)


def results_page(results: list[Result], today: date | None = None) -> str:
    from paperfeed.cli.page_text import render_page

    return render_page([(r.paper.title, r.paper.abstract) for r in results], today or date.today())


def results_table(results: list[Result], console: Console) -> None:
    t = Table(show_lines=False, expand=True)
    t.add_column("#", justify="right", width=3)
    t.add_column("id", no_wrap=True)
    t.add_column("date", no_wrap=True)
    t.add_column("title", ratio=1)
    t.add_column("match", no_wrap=True)
    t.add_column("score", justify="right")
    for i, r in enumerate(results, 1):
        d = r.paper.listed or r.paper.published
        t.add_row(str(i), _plain(r.paper.id), d.isoformat() if d else "", _plain(r.paper.title), r.block,
                  f"{r.score:.4f}")
    console.print(t)


def _plain(s: str) -> str:
    """Rich would read `[...]` in titles as markup; escape it so text shows as given."""
    from rich.markup import escape

    return escape(s)
