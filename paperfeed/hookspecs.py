"""The extension point of paperfeed: readers of source formats.

To add a source format, register a reader in `READERS`: a function that takes a path and yields
`Paper` or `RecordError` (the `Reader` protocol).  Seven built-in readers implement it, and the type
checker verifies that each does (`_BUILT_IN` below, checked by mypy from `./test.sh`).

What is deliberately not here: Protocols for the store, the keyword index, the vector index and the
embedder.  Each has exactly one implementation (SQLite and PostgreSQL are one `Store` over two SQL
dialects, see `paperfeed/store/dialect.py`), and a Protocol that nothing else implements is a promise
nobody has tested; the store's contract with the indexes is the change feed documented in
`paperfeed/store/papers.py`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from paperfeed.ingestion.errors import RecordError
from paperfeed.models import Paper


class Reader(Protocol):
    """Papers (and malformed records) of one input; raises IngestError only if the whole input is unreadable."""

    def __call__(self, path: Path, /) -> Iterator[Paper | RecordError]: ...


# format name -> "module:function".  A reader takes a Path and yields Paper or RecordError;
# it raises IngestError only when the whole input is unreadable.  Imported lazily, so a
# reader's dependencies cost nothing until that format is used.
READERS: dict[str, str] = {
    "jsonl": "paperfeed.ingestion.jsonl:read_jsonl",
    "page": "paperfeed.ingestion.pages:read_page",
    "bibtex": "paperfeed.ingestion.bibtex:read_bibtex",
    "csv": "paperfeed.ingestion.csv_ris:read_csv",
    "ris": "paperfeed.ingestion.csv_ris:read_ris",
    "atom": "paperfeed.ingestion.detect:read_atom_file",
    "oai": "paperfeed.ingestion.detect:read_oai_file",
}


def register_reader(fmt: str, target: str) -> None:
    """Add or replace a reader: `register_reader("mybib", "mypkg.readers:read_mybib")`."""
    READERS[fmt] = target


def load_reader(fmt: str) -> Reader:
    module, _, name = READERS[fmt].partition(":")
    reader: Reader = getattr(importlib.import_module(module), name)
    return reader


if TYPE_CHECKING:  # the type checker verifies every built-in reader implements `Reader` (nothing runs here)
    from paperfeed.ingestion.bibtex import read_bibtex
    from paperfeed.ingestion.csv_ris import read_csv, read_ris
    from paperfeed.ingestion.detect import read_atom_file, read_oai_file
    from paperfeed.ingestion.jsonl import read_jsonl
    from paperfeed.ingestion.pages import read_page

    _BUILT_IN: dict[str, Reader] = {"jsonl": read_jsonl, "page": read_page, "bibtex": read_bibtex, "csv": read_csv,
                                    "ris": read_ris, "atom": read_atom_file, "oai": read_oai_file}
