"""BibTeX / BibLaTeX files (Zotero, Better BibTeX, Google Scholar, hand-written .bib).

`bibtexparser` v2 splits the file into blocks and reports malformed entries as failed
blocks with their line, so one broken entry costs only that entry.  Its default value
middlewares are not used: they leave `#` concatenation and month macros unresolved and do
not touch entries with a duplicate key, so the few lines of value evaluation live here and
apply to every entry the same way.  LaTeX is decoded with pylatexenc (what bibtexparser's
`LatexDecodingMiddleware` uses), but only in text fields: URLs, DOIs and eprint ids are
taken verbatim, since decoding would eat `%20` and `_`.

The small helpers for names, dates and arXiv ids below are shared with `csv_ris`, because a
library export says the same things in every format (``Last, First``; ``2017/12/05/``;
``arXiv:1706.03762 [cs]`` in a note field).
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path

import bibtexparser
import pylatexenc.latex2text
from bibtexparser.middlewares.names import parse_single_name_into_parts, split_multiple_persons_names
from bibtexparser.model import (
    DuplicateBlockKeyBlock,
    DuplicateFieldKeyBlock,
    Entry,
    ParsingFailedBlock,
    String,
)
from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec

from paperfeed.ingestion.errors import IngestError, Location, RecordError
from paperfeed.ingestion.pages import read_text
from paperfeed.ingestion.sanitise import checked
from paperfeed.models import Paper, clean_text, new_paper, normalise_arxiv_id

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------- shared helpers

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_SUFFIXES = {"jr", "jr.", "sr", "sr.", "ii", "iii", "iv", "v"}
_ARXIV_NOTE = re.compile(r"arxiv(?:\s*(?:id|e-?prints?))?\s*[:=]?\s*(\S+)", re.IGNORECASE)
_ISO_DATE = re.compile(r"(\d{4})(?:[-/.](\d{1,2}))?(?:[-/.](\d{1,2}))?(?![\d])")
_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|2\d\d\d)(?!\d)")
_WORD_MONTH = re.compile(r"[A-Za-z]+")


def month_number(text: str | None) -> int | None:
    """1-12 from `12`, `dec`, `Dec.`, `December` (BibTeX month fields and macros)."""
    if not text:
        return None
    t = text.strip().rstrip(".").lower()
    if t.isdigit():
        n = int(t)
        return n if 1 <= n <= 12 else None
    return _MONTHS.get(t) or _MONTHS.get(t[:3])


def _safe_date(year: int, month: int | None, day: int | None) -> date | None:
    """The most precise valid date: a bad day falls back to the month, a bad month to the year."""
    for m, d in ((month, day), (month, None), (None, None)):
        try:
            return date(year, m or 1, d or 1)
        except ValueError:
            continue
    return None


def parse_loose_date(text: str | None) -> date | None:
    """A publication date from what library exports write, missing parts as the 1st.

    Handles `2017-12-05`, `2017-12-05T10:00:00Z`, `2017/12/05/` and `2017///` (RIS), `2017-12`,
    `2017`, `December 2017`, `Dec 5, 2017`, `5 December 2017`.  Numeric day-month orders
    (`05/12/2017`) are ambiguous, so only their year is used.
    """
    if not text or not text.strip():
        return None
    t = text.strip()
    m = _ISO_DATE.match(t)
    if m:
        return _safe_date(int(m[1]), int(m[2]) if m[2] else None, int(m[3]) if m[3] else None)
    y = _YEAR.search(t)
    if not y:
        return None
    month = next((month_number(w) for w in _WORD_MONTH.findall(t) if month_number(w)), None)
    day = None
    if month:
        d = re.search(r"(?<!\d)(\d{1,2})(?!\d)", t[: y.start()] + " " + t[y.end() :])
        day = int(d[1]) if d else None
    return _safe_date(int(y[1]), month, day)


def flip_name(name: str) -> str:
    """`Last, First` → `First Last`; also `Last, Jr, First` (BibTeX) and `Last, First, Jr` (RIS)."""
    parts = [p.strip() for p in name.split(",")]
    parts = [p for p in parts if p]
    if len(parts) == 2:
        return f"{parts[1]} {parts[0]}"
    if len(parts) >= 3:
        last, a, b = parts[0], parts[1], ", ".join(parts[2:])
        if a.lower() in _SUFFIXES:  # Last, Jr, First
            return f"{b} {last} {a}"
        return f"{a} {last} {b}"  # Last, First, Suffix
    return name.strip()


def find_arxiv_id(
    *,
    eprint: str | None = None,
    eprint_type: str | None = None,
    urls: Iterable[str] = (),
    doi: str | None = None,
    notes: Iterable[str] = (),
) -> str | None:
    """The arXiv id of a library record, wherever the exporter put it.

    BibLaTeX/Better BibTeX use `eprint` (+ `eprinttype`/`archivePrefix`); Zotero's plain BibTeX,
    CSV and RIS only carry it in the URL, the arXiv DOI (10.48550/arXiv.ID) or a note
    (`arXiv:1706.03762 [cs]`).  Only strings that say arXiv are searched, because a bare
    NNNN.NNNNN pattern also matches page ranges and report numbers.
    """
    if eprint and (not eprint_type or "arxiv" in eprint_type.lower()):
        aid = normalise_arxiv_id(eprint)
        if aid:
            return aid
    for url in urls:
        if url and "arxiv.org" in url.lower():
            aid = normalise_arxiv_id(url)
            if aid:
                return aid
    if doi and "10.48550/arxiv." in doi.lower():
        aid = normalise_arxiv_id(doi.lower().split("arxiv.", 1)[1])
        if aid:
            return aid
    for note in notes:
        for m in _ARXIV_NOTE.finditer(note or ""):
            aid = normalise_arxiv_id(m[1])
            if aid:
                return aid
    return None


# --------------------------------------------------------------------------- LaTeX to text


def _make_decoder() -> LatexNodes2Text:
    """pylatexenc set up as bibtexparser's LatexDecodingMiddleware, plus the macros Zotero writes.

    Zotero escapes `<`, `>` (HTML in titles) as `{\\textless}`/`{\\textgreater}`, which pylatexenc
    would otherwise drop, and `\\mbox{x}` would lose its argument.
    """
    db = pylatexenc.latex2text.get_default_latex_context_db()
    symbols = {
        "textless": "<", "textgreater": ">", "textbar": "|", "textquotedbl": '"', "textunderscore": "_",
        "textbraceleft": "{", "textbraceright": "}", "textminus": "\u2212", "textasciicircum": "^",
        "LaTeX": "LaTeX", "TeX": "TeX", "BibTeX": "BibTeX",
    }  # fmt: skip
    macros = [MacroTextSpec("url", simplify_repl="%s"), MacroTextSpec("mbox", simplify_repl="%s")]
    macros += [MacroTextSpec(name, simplify_repl=text) for name, text in symbols.items()]
    db.add_context_category("paperfeed-bibtex", prepend=True, macros=macros)
    return LatexNodes2Text(latex_context=db, keep_braced_groups=False, math_mode="verbatim")


_DECODER = _make_decoder()
# BibTeX does not treat % as a comment or & as special inside a field, LaTeX does: escape them first
# so that "50% faster" keeps its words.
_UNESCAPED = re.compile(r"(?<!\\)([%&])")


def latex_to_text(value: str) -> str:
    """Readable text from a BibTeX field: accents to unicode, case-protecting braces removed.

    Math (`$\\alpha$`) is kept verbatim, as arXiv abstracts show it.  pylatexenc fails on some
    input (e.g. `\\href`); then commands and braces are just stripped, so a field never fails.
    """
    if "\\" not in value and "{" not in value and "~" not in value and "-" * 2 not in value:
        return clean_text(value)
    try:
        text = _DECODER.latex_to_text(_UNESCAPED.sub(r"\\\1", value))
    except Exception:  # noqa: BLE001 - third-party parser on arbitrary input; degrade, never crash
        text = re.sub(r"\\[a-zA-Z]+\*?\s*|[{}\\]", "", value)
    return clean_text(text)


def _verbatim(value: str) -> str:
    """URLs, DOIs, ids: braces and TeX escapes of punctuation removed, nothing else."""
    value = re.sub(r"\\url\{(.*?)\}", r"\1", value)
    value = re.sub(r"\\([_%&#$~{}])", r"\1", value)
    return value.replace("{", "").replace("}", "").strip()


# --------------------------------------------------------------------------- field values


def _split_concat(raw: str) -> list[str]:
    """Split a raw BibTeX value on top-level `#` (outside braces and quotes)."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, c in enumerate(raw):
        if c == "{":
            depth += 1
        elif c == "}":
            depth = max(0, depth - 1)
        elif c == '"' and depth == 0:
            quoted = not quoted
        elif c == "#" and depth == 0 and not quoted:
            parts.append(raw[start:i])
            start = i + 1
    parts.append(raw[start:])
    return [p.strip() for p in parts]


def _evaluate(raw: str, strings: dict[str, str], depth: int = 0) -> str:
    """The value of a raw field: enclosing removed, @string macros and month names resolved, `#` joined."""
    out = []
    for part in _split_concat(raw):
        if len(part) >= 2 and ((part[0] == "{" and part[-1] == "}") or (part[0] == '"' and part[-1] == '"')):
            out.append(part[1:-1])
        elif part.lower() in strings and depth < 10:
            out.append(_evaluate(strings[part.lower()], strings, depth + 1))
        elif month_number(part) and not part.isdigit():
            out.append(calendar.month_name[month_number(part) or 1])
        else:
            out.append(part)
    return "".join(out)


def _fields(entry: Entry, strings: dict[str, str]) -> dict[str, str]:
    """Field name (lower case) → evaluated value; on repeated names the first one wins."""
    result: dict[str, str] = {}
    for f in entry.fields:
        if isinstance(f.value, str):
            result.setdefault(f.key.strip().lower(), _evaluate(f.value, strings))
    return result


def _authors(value: str) -> list[str]:
    """`A, B and C D and others` → ["B A", "C D"], braces and accents decoded."""
    names = []
    for raw in split_multiple_persons_names(value):
        if raw.strip().lower() == "others":
            continue
        try:
            merged = parse_single_name_into_parts(raw, strict=False).merge_first_name_first
        except Exception:  # noqa: BLE001 - odd names must not cost the whole entry
            merged = flip_name(raw)
        name = latex_to_text(merged)
        if name:
            names.append(name)
    return names


def _published(f: dict[str, str]) -> date | None:
    """BibLaTeX `date`, else `year` + `month` (first of the month or year)."""
    d = parse_loose_date(f.get("date"))
    if d:
        return d
    y = _YEAR.search(f.get("year", ""))
    if not y:
        return None
    return _safe_date(int(y[1]), month_number(f.get("month")), None)


def entry_to_paper(entry: Entry, strings: dict[str, str], source: str = "bibtex") -> Paper | str:
    """A Paper from a parsed entry, or the reason it cannot be one."""
    f = _fields(entry, strings)
    title = latex_to_text(f.get("title", ""))
    if not title:
        return f"entry {entry.key!r} has no title"
    url = _verbatim(f["url"]) if f.get("url") else None
    doi = _verbatim(f["doi"]) if f.get("doi") else None
    arxiv_id = find_arxiv_id(
        eprint=_verbatim(f["eprint"]) if f.get("eprint") else None,
        eprint_type=f.get("eprinttype") or f.get("archiveprefix"),
        urls=[url] if url else [],
        doi=doi,
        notes=[f.get("note", ""), f.get("journal", ""), f.get("howpublished", "")],
    )
    links = {"url": url} if url and url.startswith(("http://", "https://")) else {}
    venue = f.get("journal") or f.get("journaltitle") or f.get("booktitle")
    return new_paper(
        title=title,
        abstract=latex_to_text(f.get("abstract", "")),
        arxiv_id=arxiv_id,
        doi=doi,
        source=source,
        authors=_authors(f.get("author", "")),
        published=_published(f),
        links=links,
        comment=latex_to_text(venue) if venue else None,
    )


# --------------------------------------------------------------------------- the reader


def _entry_label(raw: str | None) -> str:
    m = re.match(r"\s*@\s*(\w+)\s*[{(]\s*([^,\s]*)", raw or "")
    return f"entry {m[2]!r} (@{m[1]})" if m and m[2] else f"@{m[1]} entry" if m else "entry"


def read_bibtex(path: Path) -> Iterator[Paper | RecordError]:
    """Papers of a .bib file in file order; a malformed entry becomes a RecordError at its first line.

    The whole file is read and split before the first item, so a missing, empty, binary or
    undecodable file raises `IngestError` at the call.  An entry whose key repeats an earlier one
    is still read (keys mean nothing to paperfeed; the store merges duplicates by id).
    """
    text = read_text(path)
    return parse_bibtex(text, source=str(path))


def parse_bibtex(text: str, source: str = "<bibtex>") -> Iterator[Paper | RecordError]:
    """As `read_bibtex`, for text already in memory."""
    try:
        library = bibtexparser.parse_string(text, parse_stack=[])
    except Exception as e:  # noqa: BLE001 - a splitter bug must not surface as a traceback
        raise IngestError(f"BibTeX could not be split into entries: {e}", Location(source)) from None
    if not library.entries and not library.failed_blocks:
        raise IngestError("no BibTeX entries (@article{...}, @misc{...}) found", Location(source))
    return _iter_bibtex(library, source)


def _iter_bibtex(library: bibtexparser.Library, source: str) -> Iterator[Paper | RecordError]:
    strings = {s.key.lower(): s.value for s in library.strings if isinstance(s.value, str)}
    for block in library.blocks:
        line = (block.start_line or 0) + 1
        entry: Entry | None = None
        if isinstance(block, DuplicateBlockKeyBlock):
            if isinstance(block.ignore_error_block, Entry):
                entry = block.ignore_error_block
            else:  # a repeated @string: the first definition is used
                if isinstance(block.ignore_error_block, String):
                    logger.info("%s:%d: duplicate @string %s ignored", source, line, block.key)
                continue
        elif isinstance(block, DuplicateFieldKeyBlock):
            keys = ", ".join(sorted(block.duplicate_keys))
            yield RecordError(
                Location(source, line=line),
                f"BibTeX {_entry_label(block.raw)}: field(s) {keys} given more than once, "
                "so it is unclear which value is meant",
            )
            continue
        elif isinstance(block, ParsingFailedBlock):
            err = block.error
            reason = getattr(err, "abort_reason", None) or str(err) or type(err).__name__
            reason = " ".join(reason.split())
            yield RecordError(
                Location(source, line=line), f"malformed BibTeX {_entry_label(block.raw)}: {reason}"
            )
            continue
        elif isinstance(block, Entry):
            entry = block
        if entry is None:
            continue
        try:
            result = entry_to_paper(entry, strings)
        except Exception as e:  # noqa: BLE001 - one odd entry must not stop the file
            result = f"entry {entry.key!r} could not be read: {type(e).__name__}: {e}"
        if isinstance(result, str):
            yield RecordError(Location(source, line=line), result)
        else:
            yield from checked(result, Location(source, line=line))
