"""Background work claimed through the database, so that of several nodes exactly one does each job.

Several `paperfeed serve` nodes (separate hosts, separate index directories) share one PostgreSQL; the
background embedder, the digest scheduler and the harvests must each run on one node at a time, and be
taken over by another node when that one dies.  A file lock cannot do it (the nodes share no disk), so
on PostgreSQL a job is a session-level advisory lock, `pg_advisory_lock(NAMESPACE, key(name))`, held on a
connection of its own for as long as the job runs:

- never twice: the server grants the lock to one session at a time;
- taken over when a node dies: the lock belongs to the session, and the session ends with its socket.  A
  killed process (SIGKILL, OOM) closes its socket at once (measured in tests/test_multinode.py: the other
  node's embedder takes over within its poll interval); a host that vanishes without closing its TCP
  connection is noticed by the server's TCP keepalive, which this module sets on the lock's session to
  10 s idle + 3 x 5 s probes, so within ~25 s;
- no table, no migration, no lease to renew: nothing can expire under a slow but live holder.

What it does not do: if the database restarts while a job runs, the holder's lock is gone with the
session and another node may start the same job.  Every job here is safe to run twice by construction
(embeddings are keyed by content hash, the digest ledger claims rows with FOR UPDATE SKIP LOCKED, an
ingest upserts), so the lock saves work rather than guarding correctness.

SQLite (one machine) keeps its file locks: an flock beside the database, or the embedder's in the
index directory, as before; the API is the same.
"""

from __future__ import annotations

import contextlib
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool

from paperfeed import diskio
from paperfeed.config import DbLocation, locate

NAMESPACE = 0x7066  # "pf": the first key of every paperfeed advisory lock (the migration lock uses a bigint)
EMBED, DIGEST, HARVEST, INGEST = "embed", "digest", "harvest", "ingest"
POLL = 0.5  # seconds between tries of a blocking claim on PostgreSQL (so the waiting process stays stoppable)
_KEEPALIVE = ("SET tcp_keepalives_idle = 10", "SET tcp_keepalives_interval = 5", "SET tcp_keepalives_count = 3")


class JobBusy(RuntimeError):
    """Another process (on this node or another) holds the job."""


def key(name: str) -> int:
    """The advisory-lock key of job `name` (a stable 31-bit hash, so every node computes the same)."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def sqlite_lock(location: DbLocation, name: str) -> Path:
    """The flock a job takes on SQLite: the embedder's in the index directory, others beside the file."""
    return location.embedder_lock if name == EMBED else location.lock_path(name)


def _connect(location: DbLocation) -> Connection:
    from sqlalchemy.engine import make_url

    engine = create_engine(make_url(location.db).set(drivername="postgresql+psycopg"), poolclass=NullPool,
                           isolation_level="AUTOCOMMIT")
    conn = engine.connect()
    for stmt in _KEEPALIVE:  # ignored on a Unix socket; on TCP, how soon the server notices a vanished host
        conn.exec_driver_sql(stmt)
    return conn


def _try(conn: Connection, name: str) -> bool:
    return bool(conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({NAMESPACE}, {key(name)})").scalar())


@contextlib.contextmanager
def claim(where: DbLocation | str | Path, name: str, *, blocking: bool = True,
          poll: float = POLL) -> Iterator[None]:
    """Hold job `name` of this database; `JobBusy` when `blocking` is False and another process has it.
    A blocking claim on PostgreSQL tries every `poll` seconds."""
    location = locate(where)
    if location.is_sqlite:
        try:
            with diskio.file_lock(sqlite_lock(location, name), blocking=blocking):
                yield
        except diskio.LockBusy:
            raise JobBusy(f"another process is running {name!r} on {location.display}") from None
        return
    conn = _connect(location)
    try:
        while not _try(conn, name):
            if not blocking:
                raise JobBusy(f"another process is running {name!r} on {location.display}")
            time.sleep(poll)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # a lost connection has released it already
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({NAMESPACE}, {key(name)})")
    finally:
        with contextlib.suppress(Exception):
            conn.close()
        conn.engine.dispose()


def held(where: DbLocation | str | Path, name: str) -> bool:
    """True when some process holds job `name` (probed by taking it and letting go at once)."""
    location = locate(where)
    if location.is_sqlite:
        return diskio.lock_is_held(sqlite_lock(location, name))
    try:
        with claim(location, name, blocking=False):
            return False
    except JobBusy:
        return True


def holders(where: DbLocation | str | Path) -> list[tuple[int, int]]:
    """(job key, server pid of the holding session) for every paperfeed job held now (PostgreSQL; [] on
    SQLite): what an operator looks at to see which node runs what."""
    location = locate(where)
    if location.is_sqlite:
        return []
    conn = _connect(location)
    try:
        rows = conn.exec_driver_sql(
            "SELECT objid::bigint, pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            f"AND classid = {NAMESPACE} AND objsubid = 2 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())").all()
        return [(int(k), int(p)) for k, p in rows]
    finally:
        conn.close()
        conn.engine.dispose()
