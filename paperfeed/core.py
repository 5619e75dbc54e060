"""The one core that the CLI and the web app drive: a store plus its derived indexes, and the settings
they were opened with.

The core knows nothing of background work: `paperfeed.search.background` drives a core (it opens one
in its own process), never the other way round; the one thing both need, the one-embedder-per-database
claim, is taken through `paperfeed.store.jobs` (a file lock on SQLite, an advisory lock on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from paperfeed import process_settings
from paperfeed.config import MODEL_NAME, DbLocation
from paperfeed.search.hybrid import SearchEngine
from paperfeed.settings import Settings
from paperfeed.store import jobs
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
    def __init__(self, where: Settings | DbLocation | Path | str | None = None):
        """`where`: settings, a database location, or a database (path or URL, indexes at their default
        place); None reads the process's environment (`Settings.from_env(environ())`)."""
        if isinstance(where, Settings):
            self.settings = where
        elif where is None:

            self.settings = Settings.from_env(process_settings.environ())
        else:
            self.settings = Settings.for_db(where)
        self.location = self.settings.location
        self.store = Store.open(self.location)
        self.engine = SearchEngine(self.store, self.location.index_dir)

    @property
    def db_path(self) -> Path:
        """The SQLite file (ValueError for PostgreSQL, which has none)."""
        return self.location.sqlite_path

    @property
    def index_dir(self) -> Path:
        return self.location.index_dir

    def close(self) -> None:
        self.store.close()

    def refresh_keyword_index(self, progress: Progress | None = None, rebuild: bool = False) -> int:
        return self.engine.lexical.sync(self.store, progress, rebuild=rebuild)

    def embed(self, progress: Progress | None = None, limit: int | None = None) -> int:
        """Embed missing papers; waits while another process (e.g. a server's background embedder) embeds."""
        with jobs.claim(self.location, jobs.EMBED):
            return self.engine.semantic.embed_missing(self.store, progress, limit)

    def refresh_vector_index(self, progress: Progress | None = None, rebuild: bool = False) -> int:
        return self.engine.semantic.sync(self.store, progress, rebuild=rebuild)

    def status(self) -> Status:
        first, last = self.store.date_range()
        # Freshness and count from the same state: drop a loaded vector index that another process (the
        # background embedder) has saved past, so the count below is of the index that `vector_seq` names.
        # Without this the site once said "fresh" with 60 of 65 vectors (a stale in-memory index).
        vector_seq = self.engine.semantic.reload_if_stale(self.store)
        return Status(
            db=self.location.display,
            papers=self.store.count(),
            embedded=self.store.count_embedded(MODEL_NAME),
            store_seq=self.store.current_seq(),
            papers_seq=self.store.papers_seq(),
            keyword_seq=self.engine.lexical.applied_seq(self.store),
            vector_seq=vector_seq,
            vectors=self.engine.vector_count(),
            first_day=first.isoformat() if first else None,
            last_day=last.isoformat() if last else None,
        )
