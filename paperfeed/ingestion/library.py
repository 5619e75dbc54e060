"""A member's own library as interests: a BibTeX / RIS / CSV (Zotero) export, or a list of arXiv ids.

The file goes through the same readers as `paperfeed ingest` (`bibtex`, `csv_ris`) and the same write
path (`pipeline.ingest_records`: merge with what is stored, one transaction), so a paper the store lacks
is added like any ingested one.  Unlike the CLI, an import is all or nothing *before* anything is
written: a member uploads one file and needs to hear "entry 'x' at line 12 is broken" rather than get
a silent partial library, so any malformed record refuses the whole file with every problem listed
(up to `MAX_PROBLEMS`).  An arXiv id the store does not hold is reported as "not found locally" and
nothing is fetched: a request must not wait on arxiv.org.  The papers found go into one of the
member's collections ("Imported library" unless they name another); collection items count as likes
for the recommender (`store.signals.raw_signals`), which is what makes the library "interests".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from paperfeed.ingestion.bibtex import parse_bibtex
from paperfeed.ingestion.csv_ris import parse_csv, parse_ris
from paperfeed.ingestion.errors import IngestError, RecordError, RecordWarning
from paperfeed.ingestion.pages import decode_input
from paperfeed.ingestion.pipeline import ingest_records
from paperfeed.models import Paper, normalise_arxiv_id
from paperfeed.store import collections as coll
from paperfeed.store.papers import Store
from paperfeed.store.signals import record_import

FORMATS = {"bibtex": "BibTeX (.bib)", "ris": "RIS (.ris)", "csv": "CSV (Zotero export)", "arxiv": "arXiv ids or links"}
DEFAULT_COLLECTION = "Imported library"
MAX_PROBLEMS = 10
MAX_PAPERS = 5000  # one library; more is an archive, which `paperfeed ingest` is for
_TOKENS = re.compile(r"[\s,;]+")


class LibraryError(ValueError):
    """The input cannot be imported; the message says where (file line, entry) and nothing was written."""


@dataclass
class LibraryImport:
    fmt: str
    collection: coll.Collection
    saved: list[str] = field(default_factory=list)  # paper ids now in the collection (from this import)
    new_to_store: int = 0
    new_to_collection: int = 0
    not_found: list[str] = field(default_factory=list)  # arXiv ids the store does not hold
    warnings: list[str] = field(default_factory=list)


def guess_format(filename: str, text: str) -> str:
    """bibtex / ris / csv by the file's name, else by its first characters; arxiv for a bare list."""
    name = filename.lower()
    for suffix, fmt in ((".bib", "bibtex"), (".bibtex", "bibtex"), (".ris", "ris"), (".csv", "csv"),
                        (".txt", "arxiv")):
        if name.endswith(suffix):
            return fmt
    head = text.lstrip("\ufeff \t\r\n")
    if head.startswith("@"):
        return "bibtex"
    if re.match(r"TY\s{1,2}-", head):
        return "ris"
    first = head.split("\n", 1)[0].lower()
    if "title" in first and ("," in first or ";" in first or "\t" in first):
        return "csv"
    return "arxiv"


def decode(data: bytes, source: str) -> str:
    try:
        return decode_input(data, source)
    except IngestError as e:
        raise LibraryError(str(e) if not e.location else f"{e.location}: {e}") from None


def parse_papers(text: str, fmt: str, source: str) -> tuple[list[Paper], list[str]]:
    """(papers, warnings) of a file; LibraryError naming each malformed record's line when there is one."""
    readers = {"bibtex": parse_bibtex, "ris": parse_ris, "csv": parse_csv}
    if fmt not in readers:
        raise LibraryError(f"unknown format {fmt!r}")
    papers: list[Paper] = []
    warnings: list[str] = []
    problems: list[str] = []
    try:
        for r in readers[fmt](text, source):
            if isinstance(r, RecordError):
                problems.append(str(r))
            elif isinstance(r, RecordWarning):
                warnings.append(str(r))
            else:
                papers.append(r)
    except IngestError as e:
        where = f"{e.location}: " if getattr(e, "location", None) else ""
        raise LibraryError(f"{where}{e}") from None
    if problems:
        more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
        raise LibraryError(f"{len(problems)} malformed record(s), nothing was imported: "
                           + "; ".join(problems[:MAX_PROBLEMS]) + more)
    if not papers:
        raise LibraryError(f"{source}: no papers in this file")
    if len(papers) > MAX_PAPERS:
        raise LibraryError(f"{source}: {len(papers):,} papers; an import takes at most {MAX_PAPERS:,}")
    return papers, warnings


def parse_arxiv_ids(text: str, source: str = "list") -> list[str]:
    """arXiv ids in order (duplicates once) from ids, `arXiv:` ids or arxiv.org links, one or more a line."""
    ids: list[str] = []
    bad: list[str] = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0] if not line.lstrip().startswith("http") else line
        for tok in _TOKENS.split(line.strip()):
            if not tok:
                continue
            aid = normalise_arxiv_id(tok)
            if aid is None:
                bad.append(f"{source}:{n}: {tok[:60]!r} is not an arXiv id or link")
            else:
                ids.append(aid)
    if bad:
        more = f" (and {len(bad) - MAX_PROBLEMS} more)" if len(bad) > MAX_PROBLEMS else ""
        raise LibraryError("; ".join(bad[:MAX_PROBLEMS]) + more + "; nothing was imported")
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise LibraryError("no arXiv ids given")
    if len(ids) > MAX_PAPERS:
        raise LibraryError(f"{len(ids):,} ids; an import takes at most {MAX_PAPERS:,}")
    return ids


def _target(store: Store, user_id: int, name: str) -> coll.Collection:
    name = " ".join(name.split()) or DEFAULT_COLLECTION
    found = coll.named(store, user_id, name)
    if found is None:
        found = coll.create(store, user_id, name) or coll.named(store, user_id, name)
    if found is None:
        raise LibraryError(f"could not make the collection {name!r}")
    return found


def import_library(store: Store, user_id: int, text: str, fmt: str, collection_name: str = DEFAULT_COLLECTION,
                   source: str = "upload") -> LibraryImport:
    """Parse all of `text` first (LibraryError: nothing written), then store, then save into the collection."""
    if fmt == "arxiv":
        ids = parse_arxiv_ids(text, source)
        pks: list[int] = []
        missing: list[str] = []
        for aid in ids:
            pk = store.pk_of(aid)
            (pks.append(pk) if pk is not None else missing.append(aid))
        target = _target(store, user_id, collection_name)
        result = LibraryImport(fmt, target, not_found=missing)
    else:
        papers, warnings = parse_papers(text, fmt, source)
        report = ingest_records(store, papers, source)
        if report.failure:
            raise LibraryError(f"nothing was imported: {report.failure}")
        with store.read() as conn:
            matches = store.find_matches(conn, papers)
        pks = [matches[i][0] for i in range(len(papers)) if i in matches]
        target = _target(store, user_id, collection_name)
        result = LibraryImport(fmt, target, new_to_store=report.added,
                               warnings=warnings + [str(w) for w in report.warnings])
    pks = list(dict.fromkeys(pks))
    result.new_to_collection = coll.add_many(store, target.id, pks)
    by_pk = store.ids_of(pks)
    result.saved = [by_pk[pk] for pk in pks if pk in by_pk]
    record_import(store, user_id, fmt, len(result.saved))
    return result
