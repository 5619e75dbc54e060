"""Design (b) of issue 9: search over a PostgreSQL store with per-node derived indexes (tantivy + the vector
index) fed from the store's change feed.  The same corpus slice, with the same shared vectors, must rank
exactly alike on SQLite and on PostgreSQL; and an index on a PostgreSQL store catches up from the change
feed after writes (new papers, changed papers, new vectors), with no rebuild.
"""

from __future__ import annotations

from conftest import corpus_records, write_jsonl
from shared_vectors import put_shared_embeddings, shared_vectors
from store_backends import database_for

from paperfeed.core import Paperfeed
from paperfeed.ingestion.pipeline import ingest_paths
from paperfeed.models import new_paper
from paperfeed.settings import Settings

QUERIES = ["language model", '"graph neural network"', "image segmentation cat:cs.CV",
           "reinforcement learning -robot", "efficient attention for long context", "diffusion since:2025-06-01",
           "transformers"]


def _open(backend: str, tmp_path, name: str) -> Paperfeed:  # type: ignore[no-untyped-def]
    d = tmp_path / name
    d.mkdir()
    return Paperfeed(Settings.for_db(database_for(backend, d), index_dir=d / "indexes"))


def _load(pf: Paperfeed, src) -> list[str]:  # type: ignore[no-untyped-def]
    rep = ingest_paths(pf.store, [str(src)])
    assert rep.total("added") > 0
    with pf.store.read() as conn:
        from sqlalchemy import text

        ids = [r[0] for r in conn.execute(text("select id from papers order by pk"))]
    assert put_shared_embeddings(pf, ids) == len(ids)  # every paper of the slice has a shared vector
    pf.refresh_keyword_index()
    pf.refresh_vector_index()
    return ids


def _ranked(pf: Paperfeed, q: str, mode: str) -> list[tuple[str, str, float]]:
    return [(r.paper.id, r.block, round(r.score, 12)) for r in pf.engine.search(q, limit=60, mode=mode)]


def test_same_results_on_sqlite_and_postgresql(tmp_path):
    vecs = shared_vectors()
    recs = [r for r in corpus_records(1200, skip=50000) if r["id"] in vecs][:800]
    src = write_jsonl(tmp_path / "slice.jsonl", recs)
    lite, pg = _open("sqlite", tmp_path, "lite"), _open("postgresql", tmp_path, "pg")
    try:
        assert _load(lite, src) == _load(pg, src)
        assert pg.engine.search("model", limit=5).info.ranking == "hybrid"  # vectors complete: fused
        compared = 0
        for q in QUERIES:
            for mode in ("hybrid", "keyword", "semantic"):
                a, b = _ranked(lite, q, mode), _ranked(pg, q, mode)
                assert a == b, (q, mode)
                compared += len(a)
        assert compared > 500  # the queries really returned results to compare
        for pid in recs[3]["id"], recs[400]["id"]:
            a = [(r.paper.id, round(r.score, 12)) for r in lite.engine.similar(pid, limit=15)]
            assert a and a == [(r.paper.id, round(r.score, 12)) for r in pg.engine.similar(pid, limit=15)]
    finally:
        lite.close()
        pg.close()


def test_postgres_indexes_catch_up_from_the_change_feed(tmp_path):
    vecs = shared_vectors()
    recs = [r for r in corpus_records(400, skip=60000) if r["id"] in vecs][:300]
    pf = _open("postgresql", tmp_path, "pg")
    try:
        _load(pf, write_jsonl(tmp_path / "a.jsonl", recs[:200]))
        kw_seq, vec_seq = pf.engine.lexical.applied_seq(pf.store), pf.engine.semantic.applied_seq(pf.store)
        assert kw_seq > 0 and vec_seq > 0
        # writes after the indexes were built: 100 more real papers (with their vectors) and one new paper
        ingest_paths(pf.store, [str(write_jsonl(tmp_path / "b.jsonl", recs[200:]))])
        put_shared_embeddings(pf, [r["id"] for r in recs[200:]])
        odd = new_paper(title="Quasicrystalline zebrafish phonons", abstract="A study of zebrafish quasicrystal "
                        "phonon spectra.", arxiv_id="2601.99991", source="arxiv-api", categories=["cs.XX"])
        with pf.store.paper_batch() as batch:
            batch.upsert([odd])
        # the next search catches both indexes up from the change feed (no explicit refresh, no rebuild)
        res = pf.engine.search("zebrafish quasicrystal", limit=5, mode="keyword")
        assert [r.paper.id for r in res][:1] == ["2601.99991"]
        late = recs[250]
        res = pf.engine.search(late["title"], limit=10, mode="hybrid")
        assert late["id"] in [r.paper.id for r in res]
        assert pf.engine.lexical.applied_seq(pf.store) > kw_seq
        assert len(pf.engine.semantic) == 300  # the new vectors arrived; the odd paper has none yet
        assert pf.engine.semantic.applied_seq(pf.store) > vec_seq
        res = pf.engine.search(late["title"], limit=10, mode="semantic")
        assert res[0].paper.id == late["id"]
        # a changed paper: the index follows its new text and forgets the old
        with pf.store.paper_batch() as batch:
            batch.upsert([new_paper(title="Zebrafish phonons revisited", abstract="Nothing about crystals.",
                                    arxiv_id="2601.99991", source="arxiv-api", categories=["cs.XX"])])
        assert [r.paper.id for r in pf.engine.search("quasicrystal", limit=5, mode="keyword")] == []
        res = pf.engine.search("revisited zebrafish", limit=5, mode="keyword")
        assert (res[0].paper.id, res[0].block) == ("2601.99991", "all terms")
    finally:
        pf.close()


def test_design_a_in_sql_keeps_blocks_filters_and_fusion(tmp_path):
    """The experimental in-database design (paperfeed/store/pg_search.py) on the same kind of slice."""
    from paperfeed.config import MODEL_NAME
    from paperfeed.search.embedder import get_embedder
    from paperfeed.search.hybrid import RRF_K
    from paperfeed.search.query import parse_query
    from paperfeed.store import pg_search

    vecs = shared_vectors()
    recs = [r for r in corpus_records(1200, skip=50000) if r["id"] in vecs][:800]
    pf = _open("postgresql", tmp_path, "pg")
    try:
        _load(pf, write_jsonl(tmp_path / "slice.jsonl", recs))
        with pf.store.write() as conn:
            built = pg_search.build(conn, MODEL_NAME)
        assert built["hnsw_mb"] > 0 and built["table_mb"] > 0

        def run(q: str, limit: int = 100, mode: str = "hybrid") -> list[tuple]:
            uq = parse_query(q)
            with pf.store.read() as conn:
                return pg_search.search(conn, uq, get_embedder().embed_query(uq.free_text), limit=limit, mode=mode)

        rows = run("language model", limit=400)
        blocks = [r[2] for r in rows]
        assert blocks == sorted(blocks) and {0, 2} <= set(blocks)
        papers = pf.store.get_many([r[0] for r in rows])
        for pk, _id, blk, score, kr, sr, _sim in rows:
            t = " ".join(f"{papers[pk].title} {papers[pk].abstract}".lower().replace("-", " ").split())
            if blk == 0:
                assert "language model" in t
            assert abs(score - ((1 / (RRF_K + kr) if kr else 0) + (1 / (RRF_K + sr) if sr else 0))) < 1e-9
        assert any(kr is None and sr is not None for *_x, kr, sr, _s in rows)  # neighbours by meaning alone
        for blk in (0, 1, 2):
            scores = [r[3] for r in rows if r[2] == blk]
            assert scores == sorted(scores, reverse=True)
        cv = run("image segmentation cat:cs.CV")
        assert cv and all("cs.CV" in pf.store.get_many([r[0]])[r[0]].categories for r in cv)
        neg = run("video generation -diffusion")
        assert neg and all("diffus" not in pf.store.get_many([r[0]])[r[0]].abstract.lower() for r in neg)
        assert run("efficient attention for long context", 40) == run("efficient attention for long context", 40)
        sem = run(recs[5]["title"], 10, "semantic")
        assert sem[0][1] == recs[5]["id"] and all(r[4] is None for r in sem)
        # HNSW finds the exact nearest neighbours on a slice this small
        v = vecs[recs[7]["id"]]
        with pf.store.read() as conn:
            assert pg_search.ann(conn, v, 10) == pg_search.ann(conn, v, 10, exact=True)
    finally:
        pf.close()
