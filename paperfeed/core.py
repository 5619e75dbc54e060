"""The one core that the CLI (and later the web app) drive: a store plus its derived indexes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from paperfeed.config import MODEL_NAME, default_db_path, index_dir_for
from paperfeed.search.hybrid import SearchEngine
from paperfeed.store.papers import Store

Progress = Callable[[int, int], None]


@dataclass
class Status:
    db: str
    papers: int
    embedded: int
    store_seq: int
    papers_seq: int
    keyword_seq: int
    vector_seq: int
    vectors: int
    first_day: str | None
    last_day: str | None

    @property
    def keyword_fresh(self) -> bool:
        return self.keyword_seq >= self.papers_seq

    @property
    def vectors_fresh(self) -> bool:
        return self.vector_seq >= self.store_seq


class Paperfeed:
    def __init__(self, db_path: Path | None = None):
        self.db_path = Path(db_path) if db_path else default_db_path()
        self.store = Store.open(self.db_path)
        self.engine = SearchEngine(self.store, index_dir_for(self.db_path))

    def close(self) -> None:
        self.store.close()

    def refresh_keyword_index(self, progress: Progress | None = None, rebuild: bool = False) -> int:
        return self.engine.lexical.sync(self.store, progress, rebuild=rebuild)

    def embed(self, progress: Progress | None = None, limit: int | None = None) -> int:
        """Embed missing papers; waits while another process (e.g. a server's background embedder) embeds."""
        from paperfeed.search.background import embed_lock

        with embed_lock(self.db_path):
            return self.engine.semantic.embed_missing(self.store, progress, limit)

    def refresh_vector_index(self, progress: Progress | None = None, rebuild: bool = False) -> int:
        return self.engine.semantic.sync(self.store, progress, rebuild=rebuild)

    def status(self) -> Status:
        first, last = self.store.date_range()
        return Status(
            db=str(self.db_path),
            papers=self.store.count(),
            embedded=self.store.count_embedded(MODEL_NAME),
            store_seq=self.store.current_seq(),
            papers_seq=self.store.papers_seq(),
            keyword_seq=self.engine.lexical.applied_seq(self.store),
            vector_seq=self.engine.semantic.applied_seq(self.store),
            vectors=self.engine.vector_count(),
            first_day=first.isoformat() if first else None,
            last_day=last.isoformat() if last else None,
        )
