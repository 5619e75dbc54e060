"""CSV (Zotero export, or a simple hand-made table) and RIS (Zotero, EndNote, Mendeley, publishers).

CSV columns are matched by name, case-insensitively, so Zotero's export (`Key, Item Type,
Publication Year, Author, Title, Publication Title, ..., DOI, Url, Abstract Note, Date, ...`)
and the simple form `id,title,abstract,authors,categories,date` share one reader.  Authors
are separated by `;` (Zotero writes `Last, First; Last, First`), categories by `;`.

RIS records are found here (a `TY  -` line up to its `ER  -` line) and each one is handed to
`rispy` separately: rispy itself silently drops a record that lacks `ER` and merges two
records when the `ER` between them is missing, which would hide exactly the damage a user
needs to hear about.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import rispy

from paperfeed.ingestion.bibtex import find_arxiv_id, flip_name, parse_loose_date
from paperfeed.ingestion.errors import IngestError, Location, RecordError
from paperfeed.ingestion.pages import read_text
from paperfeed.ingestion.sanitise import checked
from paperfeed.models import Paper, new_paper, normalise_arxiv_id, normalise_doi

# --------------------------------------------------------------------------- CSV

# Column names we understand, lower case, first present one wins.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "title": ("title",),
    "abstract": ("abstract note", "abstract", "summary"),
    "authors": ("author", "authors"),
    "date": ("date", "published", "publication date"),
    "year": ("publication year", "year"),
    "doi": ("doi",),
    "url": ("url", "link"),
    "id": ("id", "arxiv_id", "arxiv id"),
    "categories": ("categories", "category"),
    "venue": ("publication title", "journal", "venue"),
    "extra": ("extra", "notes"),
}


class _CsvReader(Protocol):
    """What `csv.reader` returns: rows, and the physical line it has read up to."""

    line_num: int

    def __next__(self) -> list[str]: ...


def _split_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(";") if v.strip()]


def _pick_delimiter(first_line: str) -> str:
    """`,` unless the header line clearly uses `;` or tab (spreadsheets in some locales)."""
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","


def read_csv(path: Path) -> Iterator[Paper | RecordError]:
    """Papers of a CSV file, one per row; a bad row becomes a RecordError at the row's first line.

    Raises `IngestError` at the call for a missing/empty/binary/undecodable file or one without a
    `title` column.
    """
    return parse_csv(read_text(path), source=str(path))


def parse_csv(text: str, source: str = "<csv>") -> Iterator[Paper | RecordError]:
    """As `read_csv`, for text already in memory."""
    text = text.removeprefix("\ufeff")
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_pick_delimiter(first_line))
    header: list[str] | None = None
    header_line = 0
    while header is None:
        try:
            row = next(reader)
        except StopIteration:
            raise IngestError("CSV has no header row", Location(source)) from None
        except csv.Error as e:
            raise IngestError(
                f"CSV header cannot be read: {e}", Location(source, line=reader.line_num)
            ) from None
        if any(c.strip() for c in row):
            header, header_line = [c.strip().lower() for c in row], reader.line_num
    index: dict[str, int] = {}
    for key, names in _COLUMNS.items():
        for name in names:
            if name in header:
                index[key] = header.index(name)
                break
    if "title" not in index:
        shown = ", ".join(repr(h) for h in header[:12])
        raise IngestError(
            f"CSV has no 'title' column (columns: {shown}); expected a Zotero export or "
            "id,title,abstract,authors,categories,date",
            Location(source, line=header_line),
        )
    return _iter_csv(reader, header, index, source)


def _iter_csv(
    reader: _CsvReader, header: list[str], index: dict[str, int], source: str
) -> Iterator[Paper | RecordError]:
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield RecordError(Location(source, line=start), f"CSV row cannot be read: {e}")
            continue
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            hint = ""
            if reader.line_num > start:
                hint = f" (the row runs to line {reader.line_num}: a quote that is not closed?)"
            yield RecordError(
                Location(source, line=start),
                f"row has {len(row)} fields but the header has {len(header)}{hint}",
            )
            continue
        result = _csv_row_to_paper({key: row[i].strip() for key, i in index.items()})
        if isinstance(result, str):
            yield RecordError(Location(source, line=start), result)
        else:
            yield from checked(result, Location(source, line=start))


def _csv_row_to_paper(row: dict[str, str]) -> Paper | str:
    title = row.get("title", "")
    if not title:
        return "row has an empty title"
    ident = row.get("id", "")
    doi = row.get("doi") or (normalise_doi(ident) if ident.lower().startswith(("10.", "doi:")) else None)
    arxiv_id = find_arxiv_id(urls=[row.get("url", "")], doi=doi, notes=[row.get("extra", "")])
    if not arxiv_id and ident and not doi:
        arxiv_id = normalise_arxiv_id(ident)
    published = parse_loose_date(row.get("date")) or parse_loose_date(row.get("year"))
    url = row.get("url", "")
    return new_paper(
        title=title,
        abstract=row.get("abstract", ""),
        arxiv_id=arxiv_id,
        doi=doi,
        source="csv",
        authors=[flip_name(a) for a in _split_list(row.get("authors", ""))],
        categories=_split_list(row.get("categories", "")),
        published=published,
        links={"url": url} if url.startswith(("http://", "https://")) else {},
        comment=row.get("venue") or None,
    )


# --------------------------------------------------------------------------- RIS

# rispy wants exactly "XX  - value"; exporters also write "XX - value" or "ER  -" with no space.
_RIS_TAG = re.compile(r"^([A-Z][A-Z0-9])\s{1,2}-(?:\s(.*))?$")


def read_ris(path: Path) -> Iterator[Paper | RecordError]:
    """Papers of a RIS file; a record that is unterminated or lacks a title is a RecordError at its TY line.

    Raises `IngestError` at the call for a missing/empty/binary/undecodable file or one with no
    `TY  -` line at all.
    """
    return parse_ris(read_text(path), source=str(path))


def parse_ris(text: str, source: str = "<ris>") -> Iterator[Paper | RecordError]:
    """As `read_ris`, for text already in memory."""
    lines = [ln.rstrip("\r") for ln in text.removeprefix("\ufeff").split("\n")]
    if not any((m := _RIS_TAG.match(ln.lstrip())) and m[1] == "TY" for ln in lines):
        raise IngestError("no RIS record found (no 'TY  - ' line)", Location(source))
    return _iter_ris(lines, source)


def _iter_ris(lines: list[str], source: str) -> Iterator[Paper | RecordError]:
    record: list[str] | None = None
    start = 0
    reported_stray = False
    for n, raw in enumerate(lines, start=1):
        m = _RIS_TAG.match(raw.lstrip())
        tag = m[1] if m else None
        if record is None:
            if tag == "TY":
                record, start, reported_stray = [f"TY  - {(m and m[2]) or ''}".rstrip()], n, False
            elif tag is not None and not reported_stray:
                # Text before the first record (a "Provider:" preamble) is fine, a tagged line is a
                # record that lost its TY line.
                yield RecordError(
                    Location(source, line=n), f"RIS tag {tag!r} outside a record (missing 'TY  - '?)"
                )
                reported_stray = True
            continue
        if tag == "TY":
            yield RecordError(Location(source, line=start), "RIS record not terminated by 'ER  - '")
            record, start = [f"TY  - {(m and m[2]) or ''}".rstrip()], n
        elif tag == "ER":
            record.append("ER  - ")
            yield from checked(_ris_record(record, start, source), Location(source, line=start))
            record = None
        elif m:
            record.append(f"{tag}  - {m[2] or ''}")
        else:
            record.append(raw)  # continuation of the previous tag (long abstracts)
    if record is not None:
        yield RecordError(
            Location(source, line=start), "RIS record not terminated by 'ER  - ' (file truncated?)"
        )


def _first(rec: dict[str, Any], *keys: str) -> str:
    for key in keys:
        value = rec.get(key)
        if isinstance(value, list):
            value = next((v for v in value if v and v.strip()), "")
        if value and str(value).strip():
            return str(value).strip()
    return ""


def _all(rec: dict[str, Any], *keys: str) -> list[str]:
    out: list[str] = []
    for key in keys:
        value = rec.get(key) or []
        out.extend([value] if isinstance(value, str) else [v for v in value if isinstance(v, str)])
    return out


def _ris_record(lines: Sequence[str], start: int, source: str) -> Paper | RecordError:
    where = Location(source, line=start)
    try:
        parsed = rispy.loads("\n".join(lines))
    except Exception as e:  # noqa: BLE001 - third-party parser on arbitrary input
        return RecordError(where, f"RIS record cannot be parsed: {type(e).__name__}: {e}")
    if len(parsed) != 1:
        return RecordError(where, "RIS record cannot be parsed")
    rec = parsed[0]
    title = _first(rec, "title", "primary_title", "translated_title", "short_title")
    if not title:
        return RecordError(where, "RIS record has no title (TI or T1)")
    authors = list(dict.fromkeys(_all(rec, "authors", "first_authors")))
    urls = [u for u in _all(rec, "urls") if u]
    doi = _first(rec, "doi") or None
    notes = _all(rec, "notes", "note", "accession_number", "custom1", "custom2", "journal_name")
    published = None
    for key in ("date", "year", "publication_year"):
        published = parse_loose_date(_first(rec, key))
        if published:
            break
    venue = _first(rec, "journal_name", "alternate_title3", "secondary_title")
    return new_paper(
        title=title,
        abstract=_first(rec, "abstract", "notes_abstract"),
        arxiv_id=find_arxiv_id(urls=urls, doi=doi, notes=notes),
        doi=doi,
        source="ris",
        authors=[flip_name(a) for a in authors],
        published=published,
        links={"url": urls[0]} if urls and urls[0].startswith(("http://", "https://")) else {},
        comment=venue or None,
    )
