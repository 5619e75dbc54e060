"""Saved search-result pages of a papers site (plain text, as a browser saves them).

A page looks like this, every line separated from the next by exactly one blank line::

    new
    Get trending papers in your email inbox!
    Subscribe
    byAK and the research community
    Mar 14
    <title of the best match>
    <its abstract, on one line>
    <title of the second match>
    ...

The pages carry no ids, so each paper gets a title-hash id (via `new_paper`); the order
on the page is the site's ranking and is preserved.  The header date has no year.

This module also holds `decode_input`/`read_text`, the one place that turns the bytes of
an uploaded file into text for every reader (pages, BibTeX, CSV, RIS), so that all of
them refuse binary or undecodable input with the same clear message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from paperfeed.ingestion.errors import IngestError, Location, RecordError, RecordWarning
from paperfeed.ingestion.sanitise import checked
from paperfeed.models import Paper, new_paper

logger = logging.getLogger(__name__)

#: The four fixed lines every saved page starts with (the fifth header line is the date).
PAGE_HEADER: tuple[str, ...] = (
    "new",
    "Get trending papers in your email inbox!",
    "Subscribe",
    "byAK and the research community",
)
#: English abbreviations, fixed here rather than taken from `strftime("%b")`, which follows the locale.
MONTH_ABBRS: tuple[str, ...] = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip
_DATE_LABEL = re.compile(r"(?P<mon>[A-Z][a-z]{2}) (?P<day>\d{1,2})")


# --------------------------------------------------------------------------- decoding input files


# Valid multi-byte UTF-8 sequences (RFC 3629).  If a file that failed to decode as UTF-8 still
# contains some of these, it is UTF-8 with damage (truncated or mixed encodings), not Latin-1:
# decoding it as cp1252 would silently turn every "é" into "Ã©".
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]"
    rb"|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
    rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
# Control characters that never occur in text files (tab, LF, VT, FF and CR do).
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _check_text(text: str, source: str) -> str:
    """Refuse decoded text that is really binary (NUL bytes or a lot of control characters)."""
    nul = text.find("\x00")
    if nul >= 0:
        raise IngestError(
            f"binary file, not text (NUL character at position {nul}); expected a UTF-8 text export",
            Location(source, offset=nul),
        )
    sample = text[:65536]
    controls = len(_CONTROL.findall(sample))
    if controls > max(2, len(sample) // 100):
        raise IngestError(
            f"binary file, not text ({controls} control characters in the first {len(sample)} characters)",
            Location(source),
        )
    if not text.strip():
        raise IngestError("empty file (nothing but whitespace)", Location(source))
    return text


def decode_input(data: bytes, source: str) -> str:
    """Decode an uploaded file: UTF-8 (BOM optional), UTF-16 with a BOM, or cp1252 when that is safe.

    cp1252 (a superset of Latin-1's printable characters) is tried only when the bytes are clearly
    an 8-bit legacy encoding: no valid multi-byte UTF-8 sequence anywhere, every byte defined in
    cp1252, no control characters.  Anything else is refused with the offset of the first byte
    that is not UTF-8, because guessing would store mojibake that no later step can detect.
    """
    if not data:
        raise IngestError("empty file (0 bytes)", Location(source))
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) and not data.startswith(b"\xff\xfe\x00\x00"):
        try:
            return _check_text(data.decode("utf-16"), source)
        except UnicodeDecodeError as e:
            raise IngestError(
                f"file starts with a UTF-16 byte-order mark but is not valid UTF-16 (byte {e.start})",
                Location(source, offset=e.start),
            ) from None
    nul = data.find(b"\x00")
    if nul >= 0:
        raise IngestError(
            f"binary file, not text (NUL byte at offset {nul}); expected a UTF-8 text export",
            Location(source, offset=nul),
        )
    try:
        return _check_text(data.decode("utf-8-sig"), source)
    except UnicodeDecodeError as e:
        bad = e.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
    why = _why_not_cp1252(data)
    if why is None:
        text = data.decode("cp1252")
        logger.warning("%s: not UTF-8 (byte %d); read as cp1252/Latin-1", source, bad)
        return _check_text(text, source)
    raise IngestError(
        f"not valid UTF-8: byte 0x{data[bad]:02X} at offset {bad} (line {_line_of(data, bad)}) cannot be "
        f"decoded, and the file is not safely readable as cp1252/Latin-1 either ({why}); "
        "re-export it as UTF-8",
        Location(source, offset=bad),
    )


def _why_not_cp1252(data: bytes) -> str | None:
    """None if `data` is plausibly cp1252/Latin-1 text, else the reason it is not."""
    m = _UTF8_MULTIBYTE.search(data)
    if m:
        return f"it also contains valid UTF-8 sequences (offset {m.start()}), so it is damaged UTF-8"
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as e:
        return f"byte 0x{data[e.start]:02X} at offset {e.start} is undefined in cp1252"
    c = _CONTROL.search(text)
    if c:
        return f"control character at offset {c.start()}"
    high = sum(1 for b in data if b >= 0x80)
    if high * 3 > len(data):
        return f"{high} of {len(data)} bytes are non-ASCII, which is not Western-European text"
    return None


def read_text(path: Path) -> str:
    """Read and decode a whole input file, turning every OS or encoding problem into an IngestError."""
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise IngestError("file not found", Location(source)) from None
    except IsADirectoryError:
        raise IngestError("is a directory, not a file", Location(source)) from None
    except PermissionError:
        raise IngestError("permission denied", Location(source)) from None
    except OSError as e:
        raise IngestError(f"cannot read file: {e.strerror or e}", Location(source)) from None
    return decode_input(data, source)


# --------------------------------------------------------------------------- the page format


@dataclass
class PageDoc:
    """A parsed page: header date, entries in the site's rank order, and per-record problems."""

    date_label: str  # as printed, e.g. "Mar 14"
    month: int
    day: int
    entries: list[tuple[str, str]] = field(default_factory=list)  # (title, abstract), best match first
    entry_lines: list[int] = field(default_factory=list)  # 1-based line of each entry's title
    errors: list[RecordError] = field(default_factory=list)

    def date_for(self, reference: date) -> date:
        """The page date resolved against `reference` (the header has no year): the latest such day
        on or before `reference`, so a "Dec 31" page read on Jan 2 belongs to the previous year."""
        for year in range(reference.year, reference.year - 9, -1):
            try:
                d = date(year, self.month, self.day)
            except ValueError:  # Feb 29 outside a leap year
                continue
            if d <= reference:
                return d
        raise ValueError(f"no {self.date_label} on or before {reference}")  # unreachable for valid labels


def format_date_label(day: date) -> str:
    """`Mar 14`, `Nov 3`: the site's header date (day not zero-padded, month in English)."""
    return f"{MONTH_ABBRS[day.month - 1]} {day.day}"


def _parse_date_label(text: str) -> tuple[int, int] | None:
    m = _DATE_LABEL.fullmatch(text)
    if not m or m["mon"] not in MONTH_ABBRS:
        return None
    month, day = MONTH_ABBRS.index(m["mon"]) + 1, int(m["day"])
    try:
        date(2000, month, day)  # a leap year, so Feb 29 is accepted
    except ValueError:
        return None
    return month, day


def _content_lines(text: str) -> list[tuple[int, str]]:
    """The page's content lines with their 1-based line numbers.

    Lines are separated by one blank line, so a run of three blank lines holds one empty line
    (how `render_page` writes an empty abstract).  Lines that are not separated at all (a
    copy without blank lines) are accepted too, one content line each.
    """
    items: list[tuple[int, str]] = []
    line = 1
    for piece in text.split("\n\n"):
        if "\n" in piece:
            for k, sub in enumerate(piece.split("\n")):
                if sub.strip():
                    items.append((line + k, sub.strip()))
        else:
            items.append((line, piece.strip()))
        line += piece.count("\n") + 2
    return items


def parse_page(text: str, source: str = "<page>") -> PageDoc:
    """Parse the text of a saved page.

    Raises `IngestError` when the text is not such a page (wrong or missing header).  Titles and
    abstracts alternate with nothing to tell them apart, so the only detectable damage is a last
    title without an abstract: a `RecordError` in `errors`, the entries before it are kept.
    One trailing newline (or CRLF line ends) is accepted; the originals have none.
    """
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    # Lines are joined by "\n\n", so a text ending in exactly two newlines ends with an empty line
    # (an empty last abstract); any other final newline is the one optional trailing newline.
    if text.endswith("\n") and not (text.endswith("\n\n") and not text.endswith("\n\n\n")):
        text = text[:-1]
    stripped = text.lstrip("\n")
    first_line = 1 + len(text) - len(stripped)
    if not stripped.strip():
        raise IngestError("empty page", Location(source))
    items = [(n + first_line - 1, s) for n, s in _content_lines(stripped)]

    # The header: its five lines, skipping stray blank lines between them.
    header: list[tuple[int, str]] = []
    pos = 0
    while len(header) < 5 and pos < len(items):
        if items[pos][1]:
            header.append(items[pos])
        pos += 1
    for i, expected in enumerate(PAGE_HEADER):
        if i >= len(header) or header[i][1] != expected:
            lineno, found = header[i] if i < len(header) else (items[-1][0], "<end of file>")
            raise IngestError(
                f"not a saved papers page: expected header line {i + 1} to be {expected!r}, "
                f"found {found[:80]!r}",
                Location(source, line=lineno),
            )
    if len(header) < 5:
        raise IngestError(
            "not a saved papers page: the date line after the header is missing",
            Location(source, line=header[-1][0]),
        )
    date_line, label = header[4]
    parsed = _parse_date_label(label)
    if parsed is None:
        raise IngestError(
            "not a saved papers page: expected a date such as 'Mar 14' after the header, "
            f"found {label[:80]!r}",
            Location(source, line=date_line),
        )
    doc = PageDoc(date_label=label, month=parsed[0], day=parsed[1])

    body = items[pos:]
    i = 0
    while i < len(body):
        t_line, title = body[i]
        if not title:  # stray blank lines where a title belongs: no record there, skip them
            i += 1
            continue
        if i + 1 >= len(body):
            doc.errors.append(
                RecordError(
                    Location(source, line=t_line), f"title {title[:80]!r} has no abstract line after it"
                )
            )
            break
        doc.entries.append((title, body[i + 1][1]))
        doc.entry_lines.append(t_line)
        i += 2
    return doc


def read_page_doc(path: Path) -> PageDoc:
    """Read and parse a saved page file (see `parse_page`); IngestError if it is not one."""
    return parse_page(read_text(path), source=str(path))


def read_page(path: Path) -> Iterator[Paper | RecordError]:
    """Papers of a saved page in rank order (best match first), with RecordErrors in line order.

    The file is read and its header checked before the first item is produced, so a missing,
    binary or non-page file raises `IngestError` at the call, not halfway through a loop.
    """
    doc = read_page_doc(path)
    return _iter_page(doc, str(path))


def _iter_page(doc: PageDoc, source: str) -> Iterator[Paper | RecordError | RecordWarning]:
    for (title, abstract), line in zip(doc.entries, doc.entry_lines, strict=True):
        yield from checked(new_paper(title=title, abstract=abstract, source="page"), Location(source, line=line))
    # Only a dangling last title can fail, and it is the last line of the page.
    yield from doc.errors
