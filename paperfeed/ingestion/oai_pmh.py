"""Parse arXiv OAI-PMH `ListRecords` responses in the `arXiv` and `arXivRaw` metadata formats.

OAI-PMH is arXiv's bulk interface: pages of ~1000 records chained by a
`resumptionToken`.  Two of its formats carry what we need:

* `arXiv`: authors already split (keyname/forenames), `created`/`updated` dates;
* `arXivRaw`: close to arXiv's internal record, with the full version history
  (RFC 2822 dates), but authors as one free-text string with affiliations.

Protocol details this module takes care of: deleted records (`status="deleted"`
headers, no metadata) are skipped and counted; `noRecordsMatch` is the protocol's
way of saying "empty result", not a failure; every other `<error>` is fatal to
the request and raised as `OaiError` (an `IngestError` carrying the OAI code, so
the harvester can react to e.g. an expired `badResumptionToken`).
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass
from datetime import UTC, date

from lxml import etree

from paperfeed.ingestion.arxiv_atom import parse_xml
from paperfeed.ingestion.errors import IngestError, Location, RecordError, RecordWarning
from paperfeed.ingestion.sanitise import checked
from paperfeed.models import Paper, clean_text, new_paper, normalise_arxiv_id

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
ARXIV_NS = "http://arxiv.org/OAI/arXiv/"
ARXIV_RAW_NS = "http://arxiv.org/OAI/arXivRaw/"
_NS = {"oai": OAI_NS, "ax": ARXIV_NS, "raw": ARXIV_RAW_NS}

SOURCE = "arxiv-oai"

_NAME_SUFFIXES = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"})
_AUTHOR_SEPARATORS = re.compile(r"\s*[,;]\s*(?:and\s+)?|\s+and\s+")  # also the Oxford ", and"


class OaiError(IngestError):
    """An OAI-PMH `<error>` response; `code` is the protocol's error code (e.g. `badResumptionToken`)."""

    def __init__(self, code: str, message: str, location: Location | None = None):
        super().__init__(f"OAI-PMH error {code}: {message}" if message else f"OAI-PMH error {code}", location)
        self.code = code


@dataclass(frozen=True)
class OaiRecordError(RecordError):
    """A malformed record, with whatever categories could still be read from it.

    Harvesting a category means harvesting its whole archive set and filtering;
    knowing the categories lets the harvester drop errors of records that are
    outside the wanted category instead of reporting other archives' problems.
    """

    identifier: str | None = None
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class OaiPage:
    """Paging state of one ListRecords response; `resumption_token` None means last page."""

    resumption_token: str | None
    cursor: int | None
    complete_list_size: int | None
    records: int  # <record> elements in the response, deleted ones included
    deleted: int


class _BadRecord(Exception):
    """A record that cannot become a Paper; carries what is known for the RecordError."""

    def __init__(self, message: str, categories: tuple[str, ...] = ()):
        super().__init__(message)
        self.categories = categories


def split_authors(text: str | None) -> list[str]:
    """Split an arXivRaw author string ("A. B, C. D (MIT) and E. F") into names.

    Parenthesised text is affiliations or footnote markers ("(1)", "((1) MIT, (2) ETH)")
    and may itself contain commas and "and", so it is removed first (nesting-aware).
    If the parentheses are unbalanced we keep them rather than risk swallowing every
    later author.  Then split on commas, semicolons and the word "and"; "Jr."-style
    suffixes, which follow a comma, are glued back to the preceding name.
    """
    if not text:
        return []
    kept: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif depth == 0:
            kept.append(ch)
    flat = clean_text("".join(kept) if depth == 0 else text)
    names: list[str] = []
    for piece in _AUTHOR_SEPARATORS.split(flat):
        piece = piece.strip()
        if not piece:
            continue
        if piece.lower() in _NAME_SUFFIXES and names:
            names[-1] = f"{names[-1]} {piece}"
        else:
            names.append(piece)
    return names


def _text(el: etree._Element, path: str) -> str | None:
    value = el.findtext(path, namespaces=_NS)
    return value.strip() if value and value.strip() else None


def _int_attr(el: etree._Element, name: str) -> int | None:
    value = el.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _rfc2822_date(text: str) -> date:
    """Day (UTC) of an arXivRaw version date such as `Mon, 2 Apr 2007 19:18:42 GMT`."""
    when = email.utils.parsedate_to_datetime(text)
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.date()


def _id_and_title(
    meta: etree._Element, prefix: str, identifier: str, categories: tuple[str, ...]
) -> tuple[str, str]:
    raw_id = _text(meta, f"{prefix}:id")
    arxiv_id = normalise_arxiv_id(raw_id)
    if not arxiv_id:
        problem = f"bad <id> {raw_id!r}" if raw_id else "missing <id>"
        raise _BadRecord(f"record {identifier}: {problem}", categories)
    title = clean_text(_text(meta, f"{prefix}:title"))
    if not title:
        raise _BadRecord(f"record {identifier}: missing <title>", categories)
    return arxiv_id, title


def _iso_day(meta: etree._Element, tag: str, identifier: str, categories: tuple[str, ...]) -> date | None:
    """`YYYY-MM-DD` element of the arXiv format, None if absent; garbage makes the record bad."""
    text = _text(meta, f"ax:{tag}")
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _BadRecord(f"record {identifier}: bad <{tag}> {text!r}", categories) from None


def _from_arxiv(meta: etree._Element, identifier: str) -> Paper:
    categories = tuple((_text(meta, "ax:categories") or "").split())
    arxiv_id, title = _id_and_title(meta, "ax", identifier, categories)
    authors = []
    for author in meta.findall("ax:authors/ax:author", _NS):
        parts = [_text(author, f"ax:{tag}") for tag in ("forenames", "keyname", "suffix")]
        authors.append(" ".join(p for p in parts if p))
    created = _iso_day(meta, "created", identifier, categories)
    updated = _iso_day(meta, "updated", identifier, categories)
    return new_paper(
        title=title,
        abstract=_text(meta, "ax:abstract") or "",
        arxiv_id=arxiv_id,
        doi=_text(meta, "ax:doi"),
        source=SOURCE,
        authors=authors,
        categories=list(categories),
        published=created,
        # `updated` is absent for never-replaced papers; the API then reports updated == published,
        # and we follow it so that merged records do not flip between None and a date.
        updated=updated or created,
        comment=_text(meta, "ax:comments"),
    )


def _from_arxiv_raw(meta: etree._Element, identifier: str) -> Paper:
    categories = tuple((_text(meta, "raw:categories") or "").split())
    arxiv_id, title = _id_and_title(meta, "raw", identifier, categories)
    versions: list[tuple[int, int, date]] = []
    for position, version in enumerate(meta.findall("raw:version", _NS)):
        label = (version.get("version") or "").strip().lower()
        number = int(label[1:]) if label.startswith("v") and label[1:].isdigit() else position + 1
        text = _text(version, "raw:date")
        if not text:
            raise _BadRecord(f"record {identifier}: version {label or position + 1} lacks <date>", categories)
        try:
            versions.append((number, position, _rfc2822_date(text)))
        except (TypeError, ValueError):
            raise _BadRecord(f"record {identifier}: bad version date {text!r}", categories) from None
    versions.sort()  # by version number: v1 is the submission, the last one the latest replacement
    return new_paper(
        title=title,
        abstract=_text(meta, "raw:abstract") or "",
        arxiv_id=arxiv_id,
        doi=_text(meta, "raw:doi"),
        source=SOURCE,
        authors=split_authors(_text(meta, "raw:authors")),
        categories=list(categories),
        published=versions[0][2] if versions else None,
        updated=versions[-1][2] if versions else None,
        comment=_text(meta, "raw:comments"),
    )


_FORMATS = {f"{{{ARXIV_NS}}}arXiv": _from_arxiv, f"{{{ARXIV_RAW_NS}}}arXivRaw": _from_arxiv_raw}


def _record(record: etree._Element, source_url: str) -> Paper | RecordError | None:
    """One `<record>`: a Paper, a RecordError, or None for a deleted record."""
    header = record.find("oai:header", _NS)
    identifier = (_text(header, "oai:identifier") if header is not None else None) or "(no identifier)"
    if header is not None and header.get("status") == "deleted":
        return None
    location = Location(source_url, line=record.sourceline)
    metadata = record.find("oai:metadata", _NS)
    payload = None
    if metadata is not None:  # the format's root element; comments/PIs have non-str tags
        payload = next((child for child in metadata if isinstance(child.tag, str)), None)
    if payload is None:
        return OaiRecordError(location, f"record {identifier}: no <metadata>", identifier)
    parse = _FORMATS.get(payload.tag)
    if parse is None:
        message = f"record {identifier}: unsupported metadata <{payload.tag}>"
        return OaiRecordError(location, message, identifier)
    try:
        return parse(payload, identifier)
    except _BadRecord as exc:
        return OaiRecordError(location, str(exc), identifier, exc.categories)


def parse_oai(data: bytes, source_url: str) -> tuple[list[Paper | RecordError | RecordWarning], OaiPage]:
    """Papers (or per-record errors) of one OAI-PMH ListRecords response, plus its paging state.

    Raises `OaiError` for OAI errors other than `noRecordsMatch`, and `IngestError`
    for documents that are not OAI-PMH ListRecords responses at all.
    """
    root = parse_xml(data, source_url)
    if root.tag != f"{{{OAI_NS}}}OAI-PMH":
        raise IngestError(f"not an OAI-PMH response (root element is <{etree.QName(root).localname}>)",
                          Location(source_url, line=root.sourceline))
    errors = root.findall("oai:error", _NS)
    fatal = [e for e in errors if e.get("code") != "noRecordsMatch"]
    if fatal:
        first = fatal[0]
        raise OaiError(first.get("code") or "unknown", clean_text(first.text),
                       Location(source_url, line=first.sourceline))
    if errors:
        return [], OaiPage(None, None, 0, 0, 0)
    list_records = root.find("oai:ListRecords", _NS)
    if list_records is None:
        raise IngestError("OAI-PMH response has no <ListRecords>", Location(source_url, line=root.sourceline))
    items: list[Paper | RecordError | RecordWarning] = []
    records = deleted = 0
    for record in list_records.findall("oai:record", _NS):
        records += 1
        item = _record(record, source_url)
        if item is None:
            deleted += 1
        else:
            items.extend(checked(item, Location(source_url, line=record.sourceline)))
    token_el = list_records.find("oai:resumptionToken", _NS)
    token = cursor = size = None
    if token_el is not None:
        token = (token_el.text or "").strip() or None  # an empty token marks the last page
        cursor = _int_attr(token_el, "cursor")
        size = _int_attr(token_el, "completeListSize")
    return items, OaiPage(token, cursor, size, records, deleted)
