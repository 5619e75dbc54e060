"""How two records of one paper become one: keep the richest metadata.

Sources differ in authority: arXiv's own metadata beats a user's BibTeX, which beats
a title and abstract scraped from a saved page.  Text fields come from the most
authoritative source that has them (between equals, the later record, unless its `updated` date is older);
sets (categories, sources, links) are unions; ids are filled in, never dropped.
Merging is a pure function, so re-ingesting the same input is a no-op by construction.
"""

from __future__ import annotations

from dataclasses import replace

from paperfeed.models import Paper, make_paper_id

SOURCE_RANK = {"arxiv-oai": 3, "arxiv-api": 3, "arxiv-jsonl": 3, "bibtex": 2, "ris": 2, "csv": 2, "page": 1}


def authority(p: Paper) -> int:
    return max((SOURCE_RANK.get(s, 1) for s in p.sources), default=0)


def _union(a: list[str], b: list[str]) -> list[str]:
    return list(dict.fromkeys([*a, *b]))


def merge(old: Paper, new: Paper) -> Paper:
    """Return `old` enriched by `new` (which may be the same record again)."""
    a_old, a_new = authority(old), authority(new)
    # Between equals, the later record wins unless dates say it is older (a corrected file re-ingested
    # replaces what it said before; an old arXiv version arriving late does not).
    newer = a_new > a_old or (
        a_new == a_old and (new.updated is None or old.updated is None or new.updated >= old.updated)
    )

    def pick(o, n):  # type: ignore[no-untyped-def]
        if not o:
            return n
        if n and newer:
            return n
        return o

    arxiv_id = old.arxiv_id or new.arxiv_id
    doi = old.doi or new.doi
    title = pick(old.title, new.title)
    dates_pub = [d for d in (old.published, new.published) if d]
    dates_upd = [d for d in (old.updated, new.updated) if d]
    dates_listed = [d for d in (old.listed, new.listed) if d]
    links = dict(new.links)
    links.update(old.links if not newer else {k: v for k, v in old.links.items() if k not in new.links})
    merged = replace(
        old,
        id=make_paper_id(arxiv_id, doi, title),
        title=title,
        abstract=pick(old.abstract, new.abstract),
        authors=pick(old.authors, new.authors),
        categories=_union(new.categories, old.categories) if newer else _union(old.categories, new.categories),
        arxiv_id=arxiv_id,
        doi=doi,
        published=min(dates_pub) if dates_pub else None,
        updated=max(dates_upd) if dates_upd else None,
        listed=min(dates_listed) if dates_listed else None,
        links=links,
        comment=pick(old.comment, new.comment),
        sources=_union(old.sources, new.sources),
    )
    if old.id.startswith(("t:", "doi:")) and not merged.arxiv_id and not merged.doi:
        merged.id = old.id  # a title-only id stays put even if the title's wording is refined
    return merged


def can_merge_by_title(a: Paper, b: Paper) -> bool:
    """Same normalised title is only a match when no id says otherwise (two arXiv papers can share a title)."""
    if a.arxiv_id and b.arxiv_id and a.arxiv_id != b.arxiv_id:
        return False
    if a.doi and b.doi and a.doi != b.doi:
        return False
    return len(a.title_key) >= 12
