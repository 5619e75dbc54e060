"""A list of papers as a reference-manager file: BibTeX (`paper_bibtex`, one entry per paper) or RIS.

Both are what a collection exports (`/collections/{id}.bib`, `.ris`), and both must survive hostile
text: a title with a NUL byte, a stray `}` or a newline followed by `ER  - ` would otherwise end a
BibTeX entry early or start a new RIS record.  BibTeX escaping lives in `present/bibtex.py`; here RIS
values get their control characters dropped and their whitespace (newlines included) folded, so every
value stays on its tag's line.  RIS is written by `rispy` (the library `ingestion/csv_ris.py` reads
with), without its "1." numbering lines, which some importers take as junk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import rispy

from paperfeed.models import Paper
from paperfeed.present.bibtex import paper_bibtex

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def papers_bibtex(papers: Sequence[Paper]) -> str:
    """All entries, one blank line apart; cite keys made unique with a, b, c… as BibTeX needs."""
    seen: dict[str, int] = {}
    out = []
    for p in papers:
        entry = paper_bibtex(p)
        head, rest = entry.split(",", 1)
        key = head.split("{", 1)[1]
        n = seen.get(key, 0)
        seen[key] = n + 1
        if n:
            head = f"{head}{chr(ord('a') + n - 1) if n <= 26 else n}"
        out.append(head + "," + rest)
    return "\n".join(out)


def ris_value(text: str) -> str:
    """One RIS value: no control characters, no line breaks."""
    return " ".join(_CONTROL.sub("", text).split())


def _record(p: Paper) -> dict[str, object]:
    when = p.published or p.listed
    rec: dict[str, object] = {"type_of_reference": "ELEC" if p.arxiv_id else ("JOUR" if p.doi else "GEN"),
                              "title": ris_value(p.title)}
    if p.authors:
        rec["authors"] = [ris_value(a) for a in p.authors if ris_value(a)]
    if when:
        rec["year"] = str(when.year)
        rec["date"] = when.strftime("%Y/%m/%d/")
    if p.abstract:
        rec["abstract"] = ris_value(p.abstract)
    if p.doi:
        rec["doi"] = ris_value(p.doi)
    url = f"https://arxiv.org/abs/{p.arxiv_id}" if p.arxiv_id else (p.links.get("abs") or p.links.get("doi"))
    if url:
        rec["urls"] = [ris_value(url)]
    if p.arxiv_id:
        rec["notes"] = [f"arXiv:{p.arxiv_id}"]
    if p.categories:
        rec["keywords"] = [ris_value(c) for c in p.categories]
    return rec


class _Writer(rispy.RisWriter):
    def set_header(self, count: int) -> str:
        return ""


def papers_ris(papers: Sequence[Paper]) -> str:
    if not papers:
        return ""
    return _Writer().formats([_record(p) for p in papers])
