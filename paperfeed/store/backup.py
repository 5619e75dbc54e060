"""Back up a live store, and restore one, with SQLite's online backup API.

Why the backup API and not a file copy: the site keeps writing (ingests, votes, digests) and the
database runs in WAL mode, so the newest commits may live only in `-wal`; copying the files can catch a
transaction half-written.  `sqlite3.Connection.backup` copies the pages of one read snapshot (one step,
`pages=-1`: an incremental backup is restarted by every commit of another connection, and under a
steady write load would never finish).  In WAL mode a reader never blocks writers, so the site goes on
writing while the copy runs; the copy holds exactly the transactions committed before it started.

The copy is written to a temp file beside the target, checked (`PRAGMA quick_check`), switched to a
rollback journal so it is one self-contained file, fsynced and renamed into place: a backup file is
whole or absent.

Restore goes the other way, again through the backup API, into the configured database: SQLite takes
the destination's write lock for the copy, so no reader ever sees a half-restored store.  It refuses a
destination that holds any row unless forced.  The derived indexes are not in the backup (they are
rebuilt from the store: the caller does it right after, see `paperfeed restore`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

# What makes a file a paperfeed store (and not some other SQLite database).
_REQUIRED = {"papers", "embeddings", "kv", "alembic_version"}
_BOOKKEEPING = {"alembic_version", "kv", "sqlite_sequence"}  # present in an empty store too


class BackupError(Exception):
    """A backup or restore that cannot be done: said in one line (what and which file)."""


@dataclass
class BackupReport:
    path: Path
    bytes: int
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows copied


def _connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    conn = sqlite3.connect(uri, uri=True, timeout=60, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=60000")
    return conn


def table_rows(conn: sqlite3.Connection) -> dict[str, int]:
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    return {n: int(conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names}


def _check_store(conn: sqlite3.Connection, what: Path) -> dict[str, int]:
    try:
        ok = conn.execute("PRAGMA quick_check").fetchone()[0]
        rows = table_rows(conn)
    except sqlite3.DatabaseError as e:
        raise BackupError(f"{what}: not a readable SQLite database ({e})") from None
    if ok != "ok":
        raise BackupError(f"{what}: the database is damaged ({ok})")
    missing = _REQUIRED - set(rows)
    if missing:
        raise BackupError(f"{what}: not a paperfeed database (no {', '.join(sorted(missing))} table)")
    return rows


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup(db: Path, dest: Path) -> BackupReport:
    """Write a consistent copy of the store `db` (which may be serving and writing) to `dest`."""
    db, dest = Path(db), Path(dest)
    if not db.is_file():
        raise BackupError(f"{db}: no database there")
    if dest.resolve() == db.resolve():
        raise BackupError(f"{dest}: that is the database itself")
    if not dest.parent.is_dir():
        raise BackupError(f"{dest.parent}: no such directory")
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        src = _connect(db, readonly=True)
        try:
            out = _connect(tmp)
            try:
                src.backup(out, pages=-1)  # one step: one snapshot, never restarted by the site's writes
                out.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
                rows = _check_store(out, dest)
            finally:
                out.close()
        finally:
            src.close()
        _fsync(tmp)
        os.replace(tmp, dest)
        with contextlib.suppress(OSError):
            _fsync(dest.parent)
    except sqlite3.Error as e:
        raise BackupError(f"backing up {db} to {dest}: {e}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return BackupReport(dest, dest.stat().st_size, rows)


def holds_data(db: Path) -> bool:
    """True when `db` exists and any of its tables (beyond bookkeeping) has a row."""
    if not Path(db).exists() or Path(db).stat().st_size == 0:
        return False
    conn = _connect(Path(db), readonly=True)
    try:
        return any(n for t, n in table_rows(conn).items() if t not in _BOOKKEEPING)
    except sqlite3.DatabaseError:
        return True  # unreadable: something is there, do not overwrite it unasked
    finally:
        conn.close()


def restore(src: Path, db: Path, force: bool = False) -> BackupReport:
    """Copy the backup `src` into the store `db` (created if absent); refuses a store holding data
    unless `force`.  The caller rebuilds the derived indexes afterwards."""
    src, db = Path(src), Path(db)
    if not src.is_file():
        raise BackupError(f"{src}: no backup file there")
    if db.exists() and src.resolve() == db.resolve():
        raise BackupError(f"{src}: that is the database itself")
    b = _connect(src, readonly=True)
    try:
        rows = _check_store(b, src)
        if holds_data(db) and not force:
            raise BackupError(f"{db} already holds data; restoring would replace it (use --force to do so)")
        db.parent.mkdir(parents=True, exist_ok=True)
        out = _connect(db)
        try:
            b.backup(out, pages=-1)  # under the destination's write lock: readers see before or after
            out.execute("PRAGMA journal_mode=WAL")  # as the store runs it
            _check_store(out, db)
        finally:
            out.close()
    except sqlite3.Error as e:
        raise BackupError(f"restoring {src} into {db}: {e}") from None
    finally:
        b.close()
    return BackupReport(db, db.stat().st_size, rows)
