"""Papers by one author, newest first: what an author's page lists.

Authors are a JSON list in `papers.authors`, so the database narrows the candidates with a substring
match on the JSON-quoted name (`"Yann LeCun"`, quotes included, so "Ann Le" does not match "Joann Lee";
LIKE, so ASCII case is ignored on SQLite) and Python keeps the papers whose list really holds the name,
compared as the digest compares followed authors: without case, accents or punctuation
(`mail.digest.normalise_name`).  That match scans the table: 59 ms for the 74,728-paper shared corpus
here (`bench/author_page.py`); a table of (author, paper) would make it an index look-up, at the cost of
a migration, if larger stores need it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import select

from paperfeed.models import Paper
from paperfeed.store.papers import Store
from paperfeed.store.schema import papers


def papers_by_author(store: Store, name: str, normalise: Callable[[str], str], limit: int,
                     offset: int) -> tuple[list[tuple[int, Paper]], int]:
    """One page of the author's papers as (pk, paper), newest listing first, and how many there are."""
    wanted = normalise(name)
    if not wanted:
        return [], 0
    needle = json.dumps(name.strip(), ensure_ascii=False)
    with store.read() as conn:
        rows = conn.execute(
            select(papers.c.pk, papers.c.authors)
            .where(papers.c.authors.contains(needle, autoescape=True))
            .order_by(papers.c.listed.desc(), papers.c.published.desc(), papers.c.id)
        ).all()
    pks = [r.pk for r in rows if any(normalise(a) == wanted for a in json.loads(r.authors))]
    page = pks[offset : offset + limit]
    found = store.get_many(page)
    return [(pk, found[pk]) for pk in page if pk in found], len(pks)
