"""Parse arXiv API responses (the Atom 1.0 feeds served by export.arxiv.org/api/query).

One response is one page of search results: `opensearch:*` elements say how many
results the query has and where this page starts, so the harvester can page
through them.  Each `<entry>` becomes a `Paper` (or a `RecordError` if it is
unusable); a single bad entry must not cost us the other 99 on the page.

The API reports query errors (bad id, malformed query) not with an HTTP error but
with a 200 feed holding one entry whose id is `http://arxiv.org/api/errors#...`;
that is a failure of the whole request, so it raises `IngestError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from lxml import etree

from paperfeed.ingestion.errors import IngestError, Location, RecordError, RecordWarning
from paperfeed.ingestion.sanitise import checked
from paperfeed.models import Paper, clean_text, new_paper, normalise_arxiv_id

ATOM_NS = "http://www.w3.org/2005/Atom"
OPENSEARCH_NS = "http://a9.com/-/spec/opensearch/1.1/"
ARXIV_ATOM_NS = "http://arxiv.org/schemas/atom"
_NS = {"a": ATOM_NS, "os": OPENSEARCH_NS, "arxiv": ARXIV_ATOM_NS}

SOURCE = "arxiv-api"

_API_ERROR_ID = re.compile(r"arxiv\.org/api/errors", re.IGNORECASE)
# arXiv category syntax (cs.CL, hep-th, cond-mat.str-el, physics.optics).  The API also lists
# author-supplied ACM/MSC classes ("I.2.7", "68T50") as <category>; those are not arXiv categories.
_ARXIV_CATEGORY = re.compile(r"^[a-z][a-z\-]*(\.[A-Za-z\-]+)?$")


@dataclass(frozen=True)
class AtomPage:
    """Paging information of one API response (from the `opensearch:` elements)."""

    total_results: int
    start_index: int
    items_per_page: int


class _BadEntry(Exception):
    """An entry that cannot become a Paper; turned into a RecordError by the caller."""


def parse_xml(data: bytes, source_url: str) -> etree._Element:
    """Parse untrusted XML without entity expansion or network access; syntax errors become IngestError."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise IngestError(f"not well-formed XML: {exc}", Location(source_url, line=exc.lineno)) from exc
    if root is None:
        raise IngestError("empty XML document", Location(source_url))
    return root


def parse_iso_date(text: str) -> date:
    """Calendar date of an ISO 8601 timestamp, in UTC when it carries an offset.

    The API writes `2025-01-02T18:59:59Z` (older responses `...-04:00`); converting to
    UTC gives the same day the OAI interface reports, so sources agree when merged.
    """
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.date()


def _int(root: etree._Element, path: str, default: int, source_url: str) -> int:
    text = root.findtext(path, namespaces=_NS)
    if text is None or not text.strip():
        return default
    try:
        return int(text.strip())
    except ValueError:
        raise IngestError(f"<{path}> is not an integer: {text.strip()!r}", Location(source_url)) from None


def _text(el: etree._Element, path: str) -> str | None:
    value = el.findtext(path, namespaces=_NS)
    return value.strip() if value and value.strip() else None


def _date(entry: etree._Element, tag: str, label: str) -> date | None:
    text = _text(entry, f"a:{tag}")
    if text is None:
        return None
    try:
        return parse_iso_date(text)
    except ValueError:
        raise _BadEntry(f"{label}: bad <{tag}> {text!r}") from None


def _entry_to_paper(entry: etree._Element) -> Paper:
    raw_id = _text(entry, "a:id") or ""
    links = {
        (link.get("title") or link.get("rel") or ""): link.get("href") or ""
        for link in entry.findall("a:link", _NS)
    }
    # <id> is the versioned abs URL; the alternate link is the same URL and a fallback if <id> is odd.
    arxiv_id = normalise_arxiv_id(raw_id) or normalise_arxiv_id(links.get("alternate"))
    if not arxiv_id:
        raise _BadEntry(f"entry {raw_id or '(no <id>)'}: no arXiv identifier in <id> or alternate link")
    title = clean_text(_text(entry, "a:title"))
    if not title:
        raise _BadEntry(f"entry {arxiv_id}: missing <title>")
    categories: list[str] = []
    primary = entry.find("arxiv:primary_category", _NS)
    if primary is not None and primary.get("term"):
        categories.append(primary.get("term", "").strip())
    categories += [(c.get("term") or "").strip() for c in entry.findall("a:category", _NS)]
    authors = [_text(a, "a:name") or "" for a in entry.findall("a:author", _NS)]
    # abs/pdf links are left to new_paper: the feed's are versioned http:// URLs, while stored links
    # must be identical whichever source (API, OAI, listings) a paper came from.
    return new_paper(
        title=title,
        abstract=_text(entry, "a:summary") or "",
        arxiv_id=arxiv_id,
        doi=_text(entry, "arxiv:doi"),
        source=SOURCE,
        authors=authors,
        categories=[c for c in categories if _ARXIV_CATEGORY.match(c)],
        published=_date(entry, "published", arxiv_id),
        updated=_date(entry, "updated", arxiv_id),
        comment=_text(entry, "arxiv:comment"),
    )


def parse_atom(data: bytes, source_url: str) -> tuple[list[Paper | RecordError | RecordWarning], AtomPage]:
    """Papers (or per-entry errors) of one arXiv API response, plus its paging information.

    Raises `IngestError` if the document is not an Atom feed or is the API's error feed.
    Missing `opensearch:` elements default to "this page is everything" so that a
    hand-made feed still parses; a non-integer one is an error (paging would be wrong).
    """
    root = parse_xml(data, source_url)
    if root.tag != f"{{{ATOM_NS}}}feed":
        raise IngestError(f"not an Atom feed (root element is <{etree.QName(root).localname}>)",
                          Location(source_url, line=root.sourceline))
    entries = root.findall("a:entry", _NS)
    for entry in entries:
        entry_id = _text(entry, "a:id") or ""
        if _API_ERROR_ID.search(entry_id):
            message = clean_text(_text(entry, "a:summary")) or entry_id
            raise IngestError(f"arXiv API error: {message}", Location(source_url, line=entry.sourceline))
    page = AtomPage(
        total_results=_int(root, "os:totalResults", len(entries), source_url),
        start_index=_int(root, "os:startIndex", 0, source_url),
        items_per_page=_int(root, "os:itemsPerPage", len(entries), source_url),
    )
    items: list[Paper | RecordError | RecordWarning] = []
    for entry in entries:
        try:
            items.extend(checked(_entry_to_paper(entry), Location(source_url, line=entry.sourceline)))
        except _BadEntry as exc:
            items.append(RecordError(Location(source_url, line=entry.sourceline), str(exc)))
    return items, page
