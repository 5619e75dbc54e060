"""Papers by one author, newest first: what an author's page lists.

Authors are a JSON list in `papers.authors`.  The candidates come either from the caller (the keyword
index's `authors` field, which the web page uses: a phrase look-up) or, without them, from a substring
match on the JSON-quoted name (`"Yann LeCun"`, quotes included, so "Ann Le" does not match "Joann Lee";
LIKE, so ASCII case is ignored on SQLite), which scans the table: on the 74,728-paper shared corpus,
111 ms of CPU per look-up (median of 50 authors) against 1.8 ms through the index (`bench/author_page.py`).
Either way Python keeps the papers whose list really holds the name, compared as the digest compares
followed authors: without case, accents or punctuation (`mail.digest.normalise_name`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import select

from paperfeed.models import Paper
from paperfeed.store.papers import Store
from paperfeed.store.schema import papers


def papers_by_author(store: Store, name: str, normalise: Callable[[str], str], limit: int,
                     offset: int, candidates: Sequence[int] | None = None) -> tuple[list[tuple[int, Paper]], int]:
    """One page of the author's papers as (pk, paper), newest listing first, and how many there are.
    `candidates`: paper pks that may hold the name (a superset; None: scan the table)."""
    wanted = normalise(name)
    if not wanted:
        return [], 0
    order = (papers.c.listed.desc(), papers.c.published.desc(), papers.c.id)
    rows: list[Any]  # rows of either select below; only their pk and authors are read after
    with store.read() as conn:
        if candidates is None:
            needle = json.dumps(name.strip(), ensure_ascii=False)
            rows = list(conn.execute(select(papers.c.pk, papers.c.authors)
                                     .where(papers.c.authors.contains(needle, autoescape=True)).order_by(*order)))
        else:
            rows = []
            for i in range(0, len(candidates), 500):
                rows += conn.execute(select(papers.c.pk, papers.c.authors, papers.c.listed, papers.c.published,
                                            papers.c.id).where(papers.c.pk.in_(list(candidates[i : i + 500])))).all()
            rows.sort(key=lambda r: r.id)
            rows.sort(key=lambda r: (r.listed or date.min, r.published or date.min), reverse=True)
    pks = [r.pk for r in rows if any(normalise(a) == wanted for a in json.loads(r.authors))]
    page = pks[offset : offset + limit]
    found = store.get_many(page)
    return [(pk, found[pk]) for pk in page if pk in found], len(pks)
