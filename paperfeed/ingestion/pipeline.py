"""Ingest: readers -> merge -> store, one transaction per input, then refresh the keyword index.

An input either lands whole or not at all: a fatal problem (truncated gzip, unreadable
file), an interrupt, or - with `strict` - any malformed record rolls its transaction
back, and the user is told which file and line.  Re-ingesting an input changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from paperfeed.ingestion.detect import open_input
from paperfeed.ingestion.errors import IngestError, Location, RecordError, RecordWarning
from paperfeed.ingestion.sanitise import sanitise
from paperfeed.models import Paper
from paperfeed.store.papers import Store, StoreConflict, WriteCounts

CHUNK = 2000


class StrictModeError(IngestError):
    """`--strict` and at least one malformed record: the input was rejected whole."""


@dataclass
class InputReport:
    source: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[RecordError] = field(default_factory=list)
    warnings: list[RecordWarning] = field(default_factory=list)  # stored, but changed (ingestion/sanitise.py)
    failure: IngestError | None = None  # set when the whole input was rolled back

    def add(self, c: WriteCounts) -> None:
        self.added += c.added
        self.updated += c.updated
        self.unchanged += c.unchanged


@dataclass
class IngestReport:
    inputs: list[InputReport] = field(default_factory=list)

    def total(self, attr: str) -> int:
        return sum(getattr(i, attr) for i in self.inputs)

    @property
    def failed(self) -> list[InputReport]:
        return [i for i in self.inputs if i.failure]


def _chunks(records: Iterable[Paper | RecordError | RecordWarning], rep: InputReport,
            strict: bool) -> Iterator[list[Paper]]:
    buf: list[Paper] = []
    for r in records:
        if isinstance(r, RecordWarning):
            rep.warnings.append(r)
            continue
        if isinstance(r, RecordError):
            rep.rejected += 1
            rep.errors.append(r)
            if strict:
                raise StrictModeError(f"--strict: malformed record, whole input rejected: {r.message}", r.location)
            continue
        r, notes = sanitise(r)  # readers have done it, with line numbers; this catches plugin readers
        rep.warnings.extend(RecordWarning(Location(rep.source), n) for n in notes)
        buf.append(r)
        if len(buf) >= CHUNK:
            yield buf
            buf = []
    if buf:
        yield buf


def ingest_records(store: Store, records: Iterable[Paper | RecordError | RecordWarning], source: str,
                   strict: bool = False, on_papers: Callable[[int], None] | None = None) -> InputReport:
    """Write one input's records in a single transaction; on any failure nothing of it is kept."""
    rep = InputReport(source)
    try:
        with store.paper_batch() as batch:
            for chunk in _chunks(records, rep, strict):
                rep.add(batch.upsert(chunk))
                if on_papers:
                    on_papers(len(chunk))
    except IngestError as e:
        rep.failure = e
        rep.added = rep.updated = rep.unchanged = 0
    except StoreConflict as e:  # a safety net: merging should never produce clashing ids
        rep.failure = IngestError(f"conflicting paper ids, nothing from this input was saved ({e})")
        rep.added = rep.updated = rep.unchanged = 0
    return rep


def ingest_paths(
    store: Store,
    paths: list[str],
    fmt: str | None = None,
    strict: bool = False,
    on_start: Callable[[str, int | None], None] | None = None,
    on_bytes: Callable[[int], None] | None = None,
    on_papers: Callable[[int], None] | None = None,
) -> IngestReport:
    report = IngestReport()
    for p in paths:
        try:
            records, size = open_input(p, fmt, on_bytes=on_bytes)
        except IngestError as e:
            report.inputs.append(InputReport(p, failure=e))
            continue
        if on_start:
            on_start(p, size)
        report.inputs.append(ingest_records(store, records, p, strict, on_papers))
    return report


def file_size(path: str) -> int | None:
    try:
        return Path(path).stat().st_size
    except OSError:
        return None
