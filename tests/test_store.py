"""The store: schema under migrations, WAL, cross-source merging, concurrent writers, hostile text.

Tests taking `store_backend` run twice: on a SQLite file and on a real PostgreSQL server
(`tests/store_backends.py`).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import threading
from datetime import date

import numpy as np
from conftest import corpus_records, write_jsonl
from sqlalchemy import text
from store_backends import database_for, open_store, store_backend  # noqa: F401  (fixture)

from paperfeed.ingestion.pipeline import ingest_paths, ingest_records
from paperfeed.models import new_paper
from paperfeed.store.engine import head_revision
from paperfeed.store.merge import merge
from paperfeed.store.papers import Store


def test_schema_is_migrated_and_wal(tmp_path):
    store = Store.open(tmp_path / "p.db")
    with store.read() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() == head_revision()
        assert conn.execute(text("pragma journal_mode")).scalar() == "wal"
    sid = store.store_id
    store.close()
    assert Store.open(tmp_path / "p.db").store_id == sid  # reopening keeps identity, migrates nothing


def test_same_paper_from_three_sources_merges_richest(store_backend, tmp_path):  # noqa: F811
    store = open_store(store_backend, tmp_path)
    page = new_paper(title="Attention Is All You Need", abstract="short", source="page")
    bib = new_paper(title="Attention is all you need", abstract="", doi="10.5555/3295222.3295349",
                    authors=["Ashish Vaswani", "Noam Shazeer"], published=date(2017, 12, 1), source="bibtex")
    arx = new_paper(title="Attention Is All You Need", abstract="The dominant sequence transduction models ...",
                    arxiv_id="1706.03762v7", authors=["Ashish Vaswani", "Noam Shazeer", "Niki Parmar"],
                    categories=["cs.CL", "cs.LG"], published=date(2017, 6, 12), updated=date(2023, 8, 2),
                    source="arxiv-api")
    for p in (page, bib, arx):
        ingest_records(store, [p], "t")
    assert store.count() == 1
    p = store.get("1706.03762")
    assert p is not None and p.id == "1706.03762"
    assert p.doi == "10.5555/3295222.3295349" and p.arxiv_id == "1706.03762"
    assert p.abstract.startswith("The dominant") and p.authors[-1] == "Niki Parmar"
    assert p.published == date(2017, 6, 12) and set(p.sources) == {"page", "bibtex", "arxiv-api"}
    assert store.get("doi:10.5555/3295222.3295349") is None and store.pk_of("1706.03762") is not None
    # a lesser source later does not overwrite arXiv's text
    rep = ingest_records(store, [new_paper(title="Attention is all you need", abstract="x", source="page")], "t")
    assert rep.unchanged == 1 and store.get("1706.03762").abstract.startswith("The dominant")


def test_two_arxiv_papers_with_one_title_stay_apart(store_backend, tmp_path):  # noqa: F811
    store = open_store(store_backend, tmp_path)
    a = new_paper(title="A Survey of Large Language Models", arxiv_id="2303.18223", source="arxiv-api")
    b = new_paper(title="A survey of large language models", arxiv_id="2402.06196", source="arxiv-api")
    ingest_records(store, [a, b], "t")
    assert store.count() == 2


def test_merge_is_idempotent_and_newer_version_wins():
    v1 = new_paper(title="T one two three", abstract="old", arxiv_id="2501.00001", updated=date(2025, 1, 1),
                   categories=["cs.CL"], source="arxiv-oai")
    v2 = new_paper(title="T one two three (v2)", abstract="new", arxiv_id="2501.00001v2",
                   updated=date(2025, 3, 1), categories=["cs.AI", "cs.CL"], source="arxiv-oai")
    assert merge(v1, v1) == v1
    m = merge(v1, v2)
    assert m.abstract == "new" and m.title.endswith("(v2)") and m.categories == ["cs.AI", "cs.CL"]
    assert merge(m, v2) == m and merge(m, v1) == m


def test_hostile_text_round_trips_exactly(store_backend, tmp_path):  # noqa: F811
    store = open_store(store_backend, tmp_path)
    hostile = ("<script>alert('x')</script> &amp; &lt;b&gt; $\\alpha$-divergence \\% 100% "
               "\u202eRTL\u202c 🧪 Ω≈ç √ NUL-free 'quotes' \"double\" ; DROP TABLE papers; --")
    p = new_paper(title="Hostile <b>title</b> & $x^2$", abstract=hostile, arxiv_id="2501.99999", source="arxiv-jsonl")
    ingest_records(store, [p], "t")
    got = store.get("2501.99999")
    assert got.abstract == hostile and got.title == "Hostile <b>title</b> & $x^2$"
    assert store.count() == 1


def _ingest_worker(db: str, path: str, q) -> None:  # type: ignore[no-untyped-def]
    store = Store.open(__import__("pathlib").Path(db))
    rep = ingest_paths(store, [path])
    q.put((rep.total("added"), rep.total("updated"), rep.total("unchanged"), [str(i.failure) for i in rep.failed]))


def test_concurrent_writers_queue_and_lose_nothing(tmp_path):
    """Four processes ingest overlapping files at once: every paper lands exactly once."""
    recs = corpus_records(1600)
    files = [write_jsonl(tmp_path / f"part{i}.jsonl", recs[i * 300 : i * 300 + 700]) for i in range(4)]
    db = tmp_path / "c.db"
    Store.open(db).close()
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_ingest_worker, args=(str(db), str(f), q)) for f in files]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    results = [q.get(timeout=5) for _ in procs]
    assert all(not r[3] for r in results), results
    store = Store.open(db)
    unique = {r["id"] for r in recs[: 3 * 300 + 700]}
    assert store.count() == len(unique)
    assert sum(r[0] for r in results) == len(unique)  # each paper added by exactly one writer
    with store.read() as conn:
        assert conn.execute(text("pragma integrity_check")).scalar() == "ok"
        ids = [r[0] for r in conn.execute(text("select id from papers"))]
    assert len(ids) == len(set(ids)) and set(ids) == unique
    assert json.loads(json.dumps(sorted(ids)))  # sanity: ids are plain strings


def test_duplicates_inside_one_batch_fold_by_title(store_backend, tmp_path):  # noqa: F811
    store = open_store(store_backend, tmp_path)
    page = new_paper(title="Scaling Laws for Neural Language Models", abstract="from a page", source="page")
    bib = new_paper(title="Scaling laws for neural language models.", doi="10.48550/arxiv.2001.08361",
                    authors=["Jared Kaplan"], source="bibtex")
    rep = ingest_records(store, [page, bib], "t")
    assert store.count() == 1 and rep.added == 1
    assert store.get("2001.08361").sources == ["page", "bibtex"]  # the arXiv DOI gave it its arXiv id


def test_a_merge_never_steals_another_papers_doi(store_backend, tmp_path):  # noqa: F811
    store = open_store(store_backend, tmp_path)
    a = new_paper(title="Paper A about graphs", arxiv_id="2501.00001", source="arxiv-api")
    b = new_paper(title="Paper B about trees", doi="10.1234/b", source="bibtex")
    ingest_records(store, [a, b], "t")
    wrong = new_paper(title="Paper A about graphs", arxiv_id="2501.00001", doi="10.1234/b", source="bibtex")
    rep = ingest_records(store, [wrong], "t")
    assert rep.failure is None and store.count() == 2
    assert store.get("2501.00001").doi is None and store.get("doi:10.1234/b").title == "Paper B about trees"


def test_schema_head_and_identity_on_postgresql(tmp_path):
    """The Alembic migrations run on PostgreSQL too; reopening keeps the identity and migrates nothing."""
    url = database_for("postgresql", tmp_path)
    store = Store.open(url)
    with store.read() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() == head_revision()
        assert conn.dialect.name == "postgresql"
    sid = store.store_id
    store.close()
    again = Store.open(url)
    assert again.store_id == sid and again.path is None
    again.close()


def test_two_nodes_migrating_one_new_database_at_once(tmp_path):
    """Two processes' worth of `Store.open` on one empty PostgreSQL database at the same instant: one
    migrates (under an advisory lock), the other waits and finds the schema done; one identity."""
    url = database_for("postgresql", tmp_path)
    stores: list[Store] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def node() -> None:
        try:
            start.wait()
            stores.append(Store.open(url))
        except BaseException as e:  # noqa: BLE001 - asserted below
            errors.append(e)

    threads = [threading.Thread(target=node) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len({s.store_id for s in stores}) == 1
    with stores[0].read() as conn:
        assert conn.execute(text("select count(*) from kv where key = 'store_id'")).scalar() == 1
    for s in stores:
        s.close()


def test_embeddings_replace_by_content_hash(store_backend, tmp_path):  # noqa: F811
    """Saving a text's embedding again overwrites it (SQLite: INSERT OR REPLACE; PostgreSQL: ON CONFLICT DO
    UPDATE) and restamps its seq, so the vector index picks the new one up."""
    store = open_store(store_backend, tmp_path)
    p = new_paper(title="One paper", abstract="its text", arxiv_id="2501.00007", source="arxiv-api")
    ingest_records(store, [p], "t")
    pk = store.pk_of("2501.00007")
    first = store.put_embeddings("m", [(p.content_hash(), np.array([1, 0, 0], dtype=np.float32))])
    second = store.put_embeddings("m", [(p.content_hash(), np.array([0, 1, 0], dtype=np.float32))])
    assert second > first
    assert store.missing_embeddings("m") == [] and store.count_embedded("m") == 1
    assert store.vectors_of("m", [pk])[pk].tolist() == [0.0, 1.0, 0.0]
    [(pks, vecs, missing)] = list(store.iter_vectors_changed("m", first))
    assert pks.tolist() == [pk] and vecs is not None and vecs[0].tolist() == [0.0, 1.0, 0.0] and missing.size == 0
    store.close()
