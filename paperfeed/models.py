"""The normalised paper: the one shape every source is turned into.

Parsers produce `Paper` objects; the store merges them; indexes and pages read
them back. Keeping one plain dataclass (no ORM objects) lets the SQLite and a
future PostgreSQL backend share every parser and every test.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

# Modern arXiv ids (2007+): YYMM.NNNN(N), optional version.  Old style: archive(.SUBJ)/YYMMNNN.
_ARXIV_NEW = re.compile(r"(?<![\w.])(\d{4}\.\d{4,5})(v\d+)?(?![\w])")
_ARXIV_OLD = re.compile(r"(?<![\w.])([a-z][a-z\-]+(?:\.[A-Z]{2})?/\d{7})(v\d+)?(?![\w])")
_DOI = re.compile(r"10\.\d{4,9}/\S+")


def normalise_arxiv_id(text: str | None) -> str | None:
    """Return the version-less arXiv id found in `text` (an id, `arXiv:...`, or an abs/pdf URL)."""
    if not text:
        return None
    text = text.strip()
    m = _ARXIV_NEW.search(text)
    if m:
        return m.group(1)
    m = _ARXIV_OLD.search(text)
    if m:
        return m.group(1)
    return None


def normalise_doi(text: str | None) -> str | None:
    """Lower-cased bare DOI (`10.x/y`), from a DOI, `doi:` prefix or doi.org URL."""
    if not text:
        return None
    m = _DOI.search(text.strip())
    if not m:
        return None
    return m.group(0).rstrip(".,;").lower()


def normalise_title(title: str) -> str:
    """Key used to spot the same paper across sources: case, accents, TeX and punctuation folded."""
    t = unicodedata.normalize("NFKD", title)
    t = "".join(c for c in t if not unicodedata.combining(c))
    t = re.sub(r"\\[a-zA-Z]+", " ", t)  # TeX commands
    t = re.sub(r"[^0-9a-zA-Z]+", " ", t).lower()
    return " ".join(t.split())


def clean_text(text: str | None) -> str:
    """Collapse runs of whitespace (sources wrap lines at ~80 chars); keep content as given."""
    if not text:
        return ""
    return " ".join(text.split())


@dataclass
class Paper:
    """A paper as paperfeed knows it.  `id` is stable across sources and versions."""

    id: str
    title: str
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    arxiv_id: str | None = None
    doi: str | None = None
    published: date | None = None
    updated: date | None = None
    listed: date | None = None  # the day it appeared in a daily listing
    links: dict[str, str] = field(default_factory=dict)  # abs, pdf, code, ...
    comment: str | None = None
    sources: list[str] = field(default_factory=list)

    @property
    def title_key(self) -> str:
        return normalise_title(self.title)

    def content_hash(self) -> str:
        """Hash of the text that embeddings are computed from: unchanged hash, no re-embedding."""
        return hashlib.sha256(embedding_text(self.title, self.abstract).encode("utf-8")).hexdigest()[:32]


def embedding_text(title: str, abstract: str) -> str:
    """The one text a paper is embedded from (title, then abstract), shared by indexer and benches."""
    return f"{clean_text(title)}. {clean_text(abstract)}".strip()


def make_paper_id(arxiv_id: str | None, doi: str | None, title: str) -> str:
    """Stable id: arXiv id, else `doi:<doi>`, else `t:<hash of normalised title>`."""
    if arxiv_id:
        return arxiv_id
    if doi:
        return f"doi:{doi}"
    return "t:" + hashlib.sha1(normalise_title(title).encode()).hexdigest()[:16]


def new_paper(
    *,
    title: str,
    abstract: str = "",
    arxiv_id: str | None = None,
    doi: str | None = None,
    source: str,
    **kw: object,
) -> Paper:
    """Build a `Paper` with normalised ids, cleaned whitespace and default arXiv links."""
    aid = normalise_arxiv_id(arxiv_id) if arxiv_id else None
    d = normalise_doi(doi) if doi else None
    if aid is None and d and d.startswith("10.48550/arxiv."):  # arXiv's own DOIs name the arXiv id
        aid = normalise_arxiv_id(d.removeprefix("10.48550/arxiv."))
    title = clean_text(title)
    links = dict(kw.pop("links", None) or {})  # type: ignore[arg-type]
    if aid:
        links.setdefault("abs", f"https://arxiv.org/abs/{aid}")
        links.setdefault("pdf", f"https://arxiv.org/pdf/{aid}")
    if d:
        links.setdefault("doi", f"https://doi.org/{d}")
    authors = [clean_text(a) for a in (kw.pop("authors", None) or []) if clean_text(a)]  # type: ignore[union-attr]
    categories = [c.strip() for c in (kw.pop("categories", None) or []) if c and c.strip()]  # type: ignore[union-attr]
    comment = kw.pop("comment", None)
    return Paper(
        id=make_paper_id(aid, d, title),
        title=title,
        abstract=clean_text(abstract),
        arxiv_id=aid,
        doi=d,
        authors=authors,
        categories=list(dict.fromkeys(categories)),
        links=links,
        comment=clean_text(comment) if comment else None,  # type: ignore[arg-type]
        sources=[source],
        **kw,  # type: ignore[arg-type]
    )
