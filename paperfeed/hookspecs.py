"""Every extension point of paperfeed, on one page.

To add a source format, register a reader in `READERS`.  To add a store backend (e.g.
PostgreSQL + pgvector) implement `StoreBackend`; to swap an index or the model, implement
`KeywordIndex`, `VectorStore` or `TextEmbedder`.  The CLI and the web app reach all of them
through `paperfeed.core.Paperfeed`, never directly.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np

from paperfeed.ingestion.errors import RecordError
from paperfeed.models import Paper

Reader = Callable[..., Iterator[Paper | RecordError]]

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
    return getattr(importlib.import_module(module), name)


class StoreBackend(Protocol):
    """The source of truth.  `paperfeed.store.papers.Store` (SQLite) is the reference implementation.

    Writes happen in `write()` transactions that serialise writers; `next_seq` stamps every
    change so derived indexes can ask for "everything after seq N".
    """

    store_id: str

    def write(self) -> AbstractContextManager[Any]: ...
    def read(self) -> AbstractContextManager[Any]: ...
    def next_seq(self, conn: Any) -> int: ...
    def current_seq(self) -> int: ...
    def papers_seq(self) -> int: ...
    def upsert(self, conn: Any, batch: Sequence[Paper], seq: int) -> Any: ...
    def get(self, paper_id: str) -> Paper | None: ...
    def get_many(self, pks: Sequence[int]) -> dict[int, Paper]: ...
    def iter_changed(self, since_seq: int, chunk: int = 2000) -> Iterator[list[tuple[int, int, Paper]]]: ...
    def missing_embeddings(self, model: str, limit: int | None = None) -> list[tuple[str, str, str]]: ...
    def put_embeddings(self, model: str, items: Iterable[tuple[str, np.ndarray]]) -> int: ...
    def iter_vectors_changed(self, model: str, since_seq: int, chunk: int = 5000) -> Iterator[Any]: ...
    def get_state(self, key: str) -> dict | None: ...
    def set_state(self, key: str, value: dict | None) -> None: ...


class KeywordIndex(Protocol):
    """BM25 keyword search, derived from the store (`paperfeed.search.lexical.LexicalIndex`)."""

    def sync(self, store: StoreBackend, progress: Callable[[int, int], None] | None = None,
             rebuild: bool = False) -> int: ...
    def is_fresh(self, store: StoreBackend) -> bool: ...
    def build(self, uq: Any, mode: str) -> Any: ...
    def search(self, q: Any, limit: int) -> list[Any]: ...


class VectorStore(Protocol):
    """Approximate nearest neighbours by cosine (`paperfeed.search.vectors.VectorIndex`)."""

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None: ...
    def remove(self, keys: np.ndarray) -> int: ...
    def search(self, vector: np.ndarray, k: int = 10, filter_keys: np.ndarray | None = None
               ) -> list[tuple[int, float]]: ...
    def get(self, keys: np.ndarray) -> np.ndarray: ...
    def save(self) -> None: ...
    def __len__(self) -> int: ...


class TextEmbedder(Protocol):
    """Text -> unit vectors (`paperfeed.search.embedder.Embedder`, all-MiniLM-L6-v2)."""

    dim: int

    def embed(self, texts: Sequence[str], batch_size: int = 64,
              progress: Callable[[int], None] | None = None) -> np.ndarray: ...
    def embed_query(self, text: str) -> np.ndarray: ...
