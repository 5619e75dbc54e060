"""Fixtures that build real state: slices of the shared arXiv corpus, real databases and indexes."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CORPUS = SHARED / "arxiv-cs-2025-2026.jsonl.gz"
PAGES = SHARED / "papers-pages"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def corpus_records(n: int, skip: int = 0) -> list[dict]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in itertools.islice(fh, skip, skip + n)]


def write_jsonl(path: Path, records: list[dict], gz: bool = False) -> Path:
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def run_cli(*args: str, db: Path, check: bool = False, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The real `paperfeed` command in a subprocess, as a user runs it."""
    env = {**os.environ, "PAPERFEED_DB": str(db), "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "paperfeed.cli.main", *args], capture_output=True, text=True,
                          env=env, input=stdin, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"paperfeed {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def corpus_3000(tmp_path_factory) -> Path:
    """3,000 real papers (a spread of days) as our own JSON-lines schema."""
    recs = corpus_records(3000, skip=20000)
    return write_jsonl(tmp_path_factory.mktemp("corpus") / "slice.jsonl.gz", recs, gz=True)


@pytest.fixture(scope="session")
def keyword_db(tmp_path_factory, corpus_3000):
    """A store with 3,000 papers and a fresh keyword index (no embeddings)."""
    from paperfeed.core import Paperfeed
    from paperfeed.ingestion.pipeline import ingest_paths

    db = tmp_path_factory.mktemp("kw") / "papers.db"
    pf = Paperfeed(db)
    rep = ingest_paths(pf.store, [str(corpus_3000)])
    assert rep.total("added") == 3000
    pf.refresh_keyword_index()
    yield pf
    pf.close()


@pytest.fixture(scope="session")
def hybrid_db(tmp_path_factory):
    """A store with 600 real papers, embedded and indexed both ways (uses the real model)."""
    from paperfeed.core import Paperfeed
    from paperfeed.ingestion.pipeline import ingest_paths

    d = tmp_path_factory.mktemp("hybrid")
    src = write_jsonl(d / "slice.jsonl", corpus_records(600, skip=40000))
    pf = Paperfeed(d / "papers.db")
    ingest_paths(pf.store, [str(src)])
    pf.refresh_keyword_index()
    assert pf.embed() == 600
    pf.refresh_vector_index()
    yield pf
    pf.close()


# -- the papers site (tests/test_web_*.py) ----------------------------------------------------------

HOSTILE_ID = "2510.99999"
HOSTILE = {
    "id": HOSTILE_ID, "date": "2025-10-01",
    "title": "<script>alert('title')</script> Hostile &amp; $\\alpha$-divergence transformers",
    "abstract": "We show <script>alert(1)</script> that $O(n^2)$ \\% bounds hold & <b>bold</b> &lt;tag&gt; claims.",
    "authors": ["Eve <img src=x onerror=alert(1)>", "Mallory"], "categories": ["cs.LG"],
}


def make_site_pf(directory: Path, backend: str = "sqlite"):
    """A store of 300 real papers (288 listed 2025-09-29, 12 on 2025-10-01) plus one hostile paper,
    with a fresh keyword index and no embeddings: what the web tests serve.  `backend`: "sqlite" (a file in
    `directory`) or "postgresql" (a new database on the tests' server, indexes in `directory`)."""
    from paperfeed.core import Paperfeed
    from paperfeed.ingestion.pipeline import ingest_paths
    from paperfeed.settings import Settings

    src = write_jsonl(directory / "site.jsonl", [*corpus_records(300, skip=30000), HOSTILE])
    if backend == "sqlite":
        pf = Paperfeed(directory / "site.db")
    else:
        from store_backends import new_postgres_database

        pf = Paperfeed(Settings.for_db(new_postgres_database(), directory / "indexes"))
    rep = ingest_paths(pf.store, [str(src)])
    assert rep.total("added") == 301
    pf.refresh_keyword_index()
    return pf
