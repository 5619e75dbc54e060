"""The one place that opens the database: dialect set-up and schema migrations.

SQLite is run in WAL mode (readers never block the writer) and every write transaction
(a connection with the `write` execution option) starts with `BEGIN IMMEDIATE`, so
concurrent writers queue on the lock (with a busy timeout) instead of failing half-way
with "database is locked".

PostgreSQL (psycopg 3) runs at READ COMMITTED, the server's default: writers are concurrent,
and where order matters a statement takes the row lock it needs (the change counter, see
`papers.py`; the ledger's claim, `FOR UPDATE SKIP LOCKED`).  Connections are checked before use
(`pool_pre_ping`), so a server restart costs one reconnect, not an error.  Migrations take a
transaction-scoped advisory lock, so two nodes starting at once migrate one after the other.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event

MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATION_LOCK = 0x70617065  # "pape": the advisory lock id two PostgreSQL nodes migrate under


def open_engine(db: str) -> Engine:
    """The engine for a database named by `paperfeed.config` rules: a SQLite path, or a PostgreSQL URL."""
    from paperfeed.config import is_postgres, sqlite_path

    if is_postgres(db):
        return postgres_engine(db)
    return sqlite_engine(sqlite_path(db))


def postgres_engine(url: str) -> Engine:
    """`postgresql://…` through psycopg 3 (the URL's driver is set to it)."""
    from sqlalchemy.engine import make_url

    u = make_url(url).set(drivername="postgresql+psycopg")
    return create_engine(u, pool_pre_ping=True, pool_size=5, max_overflow=10)


def sqlite_engine(path: Path) -> Engine:
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        # Writers take the lock up front; readers start a plain (deferred) snapshot.
        immediate = conn.get_execution_options().get("write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest migration's revision id (what a migrated store's `alembic_version` holds)."""
    return str(ScriptDirectory.from_config(_alembic_config()).get_current_head())


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (cheap no-op when it already is)."""
    cfg = _alembic_config()
    head = head_revision()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current == head:
        return
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        if conn.dialect.name == "postgresql":  # another node may be migrating: wait for it, then re-check
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            if MigrationContext.configure(conn).get_current_revision() == head:
                return
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
