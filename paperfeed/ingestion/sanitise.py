"""Hostile text made harmless on the way in: control characters stripped, unsafe links dropped.

Every reader passes each paper it builds through `checked(paper, where)`; the pipeline passes every
paper once more (`sanitise`, for readers from plugins), which finds nothing left to do in a paper a
reader already checked.  Nothing is rejected: a paper keeps its text minus the characters no page,
feed or email may carry, and loses only the links that could run script.  What was changed is reported
as a `RecordWarning` naming the file and line, beside the record errors.

- Control characters (C0 but tab/newline/CR, DEL, C1), lone surrogates and U+FFFE/U+FFFF: a NUL in a
  title reached HTML pages and emails, and would end an XML feed.  Whitespace is collapsed by the
  readers already (`models.clean_text`), so tab/newline/CR never survive in one-line fields either.
- Links: only absolute http(s) URLs (`paperfeed.urls.safe_link`, the rule pages and the API apply again
  when they print a link): `javascript:` and `data:` URLs from a BibTeX `url` or a JSON `pdf` field
  were rendered as hrefs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

from paperfeed.ingestion.errors import Location, RecordError, RecordWarning
from paperfeed.models import Paper, make_paper_id
from paperfeed.urls import safe_link

CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_SHOWN = 60


def strip_controls(text: str) -> str:
    return CONTROL.sub("", text)


def _clean(text: str) -> str:
    """Controls out; a control that separated two words becomes nothing, runs of spaces stay single."""
    return " ".join(strip_controls(text).split()) if CONTROL.search(text) else text


def sanitise(paper: Paper) -> tuple[Paper, list[str]]:
    """The paper without control characters and unsafe links, and what was changed (empty: nothing)."""
    notes: list[str] = []
    fields: dict[str, object] = {}
    dirty = [name for name, value in (("title", paper.title), ("abstract", paper.abstract),
                                      ("comment", paper.comment or ""), ("doi", paper.doi or ""))
             if CONTROL.search(value)]
    if any(CONTROL.search(a) for a in paper.authors):
        dirty.append("authors")
        fields["authors"] = [c for a in paper.authors if (c := _clean(a))]
    if any(CONTROL.search(c) for c in paper.categories):
        dirty.append("categories")
        fields["categories"] = list(dict.fromkeys(c for cat in paper.categories if (c := _clean(cat))))
    for name in ("title", "abstract", "comment", "doi"):
        if name in dirty:
            fields[name] = _clean(getattr(paper, name)) or (None if name in ("comment", "doi") else "")
    if dirty:
        notes.append(f"control characters removed from {', '.join(dirty)}")
    links: dict[str, str] = {}
    for key, url in paper.links.items():
        ok = safe_link(url.strip() if isinstance(url, str) else url)
        if ok is None:
            notes.append(f"link {key!r} dropped (only http(s) links are kept): {str(url)[:_SHOWN]!r}")
        else:
            links[key] = ok
    if links != paper.links:  # a dropped arXiv or DOI link falls back to the one paperfeed builds itself
        if paper.arxiv_id:
            links.setdefault("abs", f"https://arxiv.org/abs/{paper.arxiv_id}")
            links.setdefault("pdf", f"https://arxiv.org/pdf/{paper.arxiv_id}")
        doi = fields.get("doi", paper.doi)
        if doi and safe_link(f"https://doi.org/{doi}"):
            links.setdefault("doi", f"https://doi.org/{doi}")
        fields["links"] = links
    if not fields:
        return paper, notes
    clean = replace(paper, **fields)  # type: ignore[arg-type]
    if "doi" in fields and paper.id == f"doi:{paper.doi}":
        clean = replace(clean, id=make_paper_id(clean.arxiv_id, clean.doi, clean.title))
    return clean, notes


def checked(item: Paper | RecordError, where: Location) -> Iterator[Paper | RecordError | RecordWarning]:
    """A reader's record as it should be stored, preceded by a warning for each change made to it."""
    if not isinstance(item, Paper):
        yield item
        return
    paper, notes = sanitise(item)
    for note in notes:
        yield RecordWarning(where, note)
    yield paper
