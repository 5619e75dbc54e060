"""Design (a) of issue 9, an EXPERIMENT: search inside PostgreSQL (full-text search + pgvector HNSW), fused in
one SQL statement.  Not the product (see docs/deployment.md, "Search on PostgreSQL"): nothing in the site calls
it, and its table is made by `build()` (bench/search_backends.py), not by a migration.

A side table `pg_search(pk, tsv, emb, listed, cats)` holds, per paper, a weighted tsvector (title A, abstract B,
authors C; `english` configuration) with a GIN index, and its vector as `vector(384)` with an HNSW index
(inner product: the vectors are unit length, so it orders as cosine).

`search()` runs ONE statement that computes hybrid.py's blocks and fuses them the same way:

  block 0 phrase     the free words as one phrase (`phraseto_tsquery`), other clauses ANDed
  block 1 all terms  every clause (`&&` of per-clause tsqueries), not in block 0
  block 2 related    any clause (`||`), not in 0/1; plus the HNSW neighbours not in any block
  score = 1/(60 + r_kw) + 1/(60 + r_sem) within the block; order (block, -score, paper id)

r_sem is the exact cosine rank of every candidate (as hybrid.py computes it); filters (cat:, since:, until:) and
exclusions apply to every block, the vector side through pgvector 0.8's iterative index scan
(`hnsw.iterative_scan = relaxed_order`) so a filtered ANN query still returns k rows.

Where it differs from hybrid.py (tantivy):
* ranking: `ts_rank_cd` (cover density, no IDF) instead of BM25, so r_kw differs within a block;
* stemming: PostgreSQL's `english` Snowball stemmer plus its stop-word list; tantivy's analyser is similar but
  not identical, so a few borderline words land in another block;
* phrases: `<->` adjacency of lexemes after stop-word removal (a stop word leaves a gap `<2>`), close to
  tantivy's position phrase; prefixes `word:*` match lexemes, i.e. stemmed words;
* fielded clauses (title:, abstract:, author:) match the whole document: restricting a `plainto_tsquery` to one
  weight (`:A`) is not expressible without building tsquery text by hand;
* category prefixes (`cat:cs.*`) are matched with LIKE on the array elements.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

from paperfeed.search.query import Clause, Query

RRF_K = 60
DIM = 384
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)


def _binary_rows(rows: Iterator[tuple[int, bytes]]) -> Iterator[bytes]:
    """COPY BINARY rows (int4 pk, pgvector vector) from float32 bytes: no text formatting of 384 floats."""
    yield _COPY_HEADER
    head = struct.pack(">HH", DIM, 0)
    for pk, raw in rows:
        vec = np.frombuffer(raw, dtype="<f4").astype(">f4").tobytes()
        yield struct.pack(">hii", 2, 4, pk) + struct.pack(">i", 4 + len(vec)) + head + vec
    yield struct.pack(">h", -1)


def build(conn: Connection, model: str, ef_construction: int = 64, m: int = 16) -> dict[str, float]:
    """(Re)create the pg_search table and its indexes from papers + embeddings; returns timings (s) and sizes (MB).

    Vectors go through COPY BINARY into a temporary table, then one CREATE TABLE AS joins them to the papers;
    the GIN and HNSW indexes are built afterwards (faster than maintaining them row by row)."""
    import time

    out: dict[str, float] = {}
    t0 = time.perf_counter()
    conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS vector")
    conn.exec_driver_sql("DROP TABLE IF EXISTS pg_search")
    conn.exec_driver_sql(f"CREATE TEMP TABLE _pgs_vec (pk int PRIMARY KEY, emb vector({DIM})) ON COMMIT DROP")
    src = conn.execute(text("SELECT p.pk, e.vector FROM papers p JOIN embeddings e "
                            "ON e.content_hash = p.content_hash AND e.model = :m"), {"m": model})
    raw: Any = conn.connection.driver_connection  # psycopg's own connection, for COPY
    with raw.cursor() as cur, cur.copy("COPY _pgs_vec (pk, emb) FROM STDIN (FORMAT BINARY)") as cp:
        for chunk in _binary_rows((int(r[0]), bytes(r[1])) for r in src):
            cp.write(chunk)
    conn.exec_driver_sql(
        "CREATE TABLE pg_search AS SELECT p.pk, "
        "setweight(to_tsvector('english', p.title), 'A') || setweight(to_tsvector('english', p.abstract), 'B') || "
        "setweight(to_tsvector('english', array_to_string(ARRAY(SELECT json_array_elements_text(p.authors::json)),"
        " ' ')), 'C') AS tsv, v.emb, p.listed, "
        "ARRAY(SELECT lower(json_array_elements_text(p.categories::json))) AS cats "
        "FROM papers p LEFT JOIN _pgs_vec v ON v.pk = p.pk")
    conn.exec_driver_sql("ALTER TABLE pg_search ADD PRIMARY KEY (pk)")
    out["load_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    conn.exec_driver_sql("CREATE INDEX pg_search_tsv ON pg_search USING gin (tsv)")
    conn.exec_driver_sql("CREATE INDEX pg_search_cats ON pg_search USING gin (cats)")
    conn.exec_driver_sql("CREATE INDEX pg_search_listed ON pg_search (listed)")
    out["gin_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
    conn.exec_driver_sql(f"CREATE INDEX pg_search_hnsw ON pg_search USING hnsw (emb vector_ip_ops) "
                         f"WITH (m = {int(m)}, ef_construction = {int(ef_construction)})")
    out["hnsw_s"] = time.perf_counter() - t0
    conn.exec_driver_sql("ANALYZE pg_search")
    for name, rel in (("table_mb", "pg_search"), ("gin_mb", "pg_search_tsv"), ("hnsw_mb", "pg_search_hnsw")):
        out[name] = float(conn.exec_driver_sql(f"SELECT pg_relation_size('{rel}') / 1e6").scalar_one())
    return out


def vector_literal(vec: np.ndarray) -> str:
    return "[" + ",".join(f"{float(x):.7g}" for x in vec) + "]"


class _Sql:
    """Bind parameters for user text: the SQL text only ever holds operators and parameter names."""

    def __init__(self) -> None:
        self.params: dict[str, object] = {}

    def bind(self, value: object) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def clause(self, c: Clause) -> str | None:
        if c.kind == "prefix":
            stem = "".join(ch for ch in c.text.lower() if ch.isalnum())
            return f"to_tsquery('english', {self.bind(stem + ':*')})" if stem else None
        fn = "phraseto_tsquery" if c.kind == "phrase" else "plainto_tsquery"
        return f"{fn}('english', {self.bind(c.text)})"


def _filters(s: _Sql, uq: Query) -> str:
    parts = ["TRUE"]
    if uq.categories:
        ors = []
        for cat in uq.categories:
            cat = cat.lower()
            if cat.endswith("*"):
                pat = s.bind(cat[:-1].replace("%", "").replace("_", "") + "%")
                ors.append(f"EXISTS (SELECT 1 FROM unnest(d.cats) x WHERE x LIKE {pat})")
            else:
                ors.append(f"d.cats @> ARRAY[{s.bind(cat)}]::text[]")
        parts.append("(" + " OR ".join(ors) + ")")
    if uq.since:
        parts.append(f"d.listed >= {s.bind(uq.since)}")
    if uq.until:
        parts.append(f"d.listed <= {s.bind(uq.until)}")
    for c in uq.negative:
        q = s.clause(c)
        if q:
            parts.append(f"NOT (d.tsv @@ {q})")
    return " AND ".join(parts)


def search_sql(uq: Query, vec: np.ndarray | None, k: int, limit: int, offset: int,
               mode: str = "hybrid") -> tuple[str, dict[str, object]]:
    """The one statement (and its parameters) for a query; `vec` is the query embedding (None: keyword only)."""
    s = _Sql()
    where = _filters(s, uq)
    pos = [q for q in (s.clause(c) for c in uq.positive) if q]
    ctes, parts = [], []
    kw_blocks = []
    if mode != "semantic" and pos:
        words = [c.text for c in uq.positive if c.field is None and c.kind in ("term", "phrase")]
        if len(words) >= 2 or any(" " in w for w in words):
            rest = [q for c in uq.positive if not (c.field is None and c.kind in ("term", "phrase"))
                    for q in [s.clause(c)] if q]
            kw_blocks.append(("phrase", " && ".join([f"phraseto_tsquery('english', {s.bind(' '.join(words))})",
                                                     *rest])))
        kw_blocks.append(("conj", " && ".join(pos)))
        kw_blocks.append(("anyq", "(" + " || ".join(pos) + ")"))
    seen: list[str] = []
    blk = {"phrase": 0, "conj": 1, "anyq": 2}
    for name, tq in kw_blocks:
        ctes.append(f"{name}_q AS (SELECT ({tq}) AS q)")
        not_in = "".join(f" AND d.pk NOT IN (SELECT pk FROM {o})" for o in seen)
        ctes.append(f"{name} AS (SELECT d.pk, ts_rank_cd(d.tsv, {name}_q.q) AS s FROM pg_search d, {name}_q "
                    f"WHERE d.tsv @@ {name}_q.q AND {where}{not_in} ORDER BY s DESC, d.pk LIMIT :k)")
        parts.append(f"SELECT pk, {blk[name]} AS blk, s FROM {name}")
        seen.append(name)
    if vec is not None:
        v = s.bind(vector_literal(vec))
        ctes.append(f"qv AS (SELECT CAST({v} AS vector({DIM})) AS v)")
        ctes.append(f"sem AS MATERIALIZED (SELECT d.pk FROM pg_search d, qv WHERE d.emb IS NOT NULL AND {where} "
                    f"ORDER BY d.emb <#> qv.v LIMIT :k)")
        not_in = "".join(f" AND pk NOT IN (SELECT pk FROM {o})" for o in seen)
        parts.append(f"SELECT pk, 2 AS blk, NULL::real AS s FROM sem WHERE TRUE{not_in}")
    if not parts:
        return "SELECT NULL AS pk WHERE FALSE", {}
    sim = "-(d.emb <#> qv.v)" if vec is not None else "NULL::float8"
    from_qv = ", qv" if vec is not None else ""
    kr = "NULL::bigint" if mode == "semantic" else (
        "CASE WHEN c.s IS NULL THEN NULL ELSE row_number() OVER (PARTITION BY c.blk ORDER BY c.s DESC NULLS LAST, "
        "c.pk) END")
    sr = "NULL::bigint" if vec is None else (
        f"CASE WHEN d.emb IS NULL THEN NULL ELSE row_number() OVER (PARTITION BY c.blk ORDER BY {sim} DESC NULLS "
        "LAST, c.pk) END")
    ctes.append("cand AS (" + " UNION ALL ".join(parts) + ")")
    ctes.append(f"ranked AS (SELECT c.pk, c.blk, {sim} AS sim, {kr} AS kr, {sr} AS sr "
                f"FROM cand c JOIN pg_search d ON d.pk = c.pk{from_qv})")
    sql = ("WITH " + ", ".join(ctes) +
           f" SELECT r.pk, p.id, r.blk, COALESCE(1.0::float8 / ({RRF_K} + r.kr), 0) "
           f"+ COALESCE(1.0::float8 / ({RRF_K} + r.sr), 0) AS score, r.kr, r.sr, r.sim "
           "FROM ranked r JOIN papers p ON p.pk = r.pk "
           "ORDER BY r.blk, score DESC, p.id LIMIT :limit OFFSET :offset")
    s.params.update(k=k, limit=limit, offset=offset)
    return sql, s.params


def search(conn: Connection, uq: Query, vec: np.ndarray | None, limit: int = 10, offset: int = 0,
           k: int = 300, mode: str = "hybrid", ef_search: int = 100) -> list[tuple]:
    """(pk, id, block, score, kw_rank, sem_rank, similarity) rows of one results page, in order."""
    conn.exec_driver_sql(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
    conn.exec_driver_sql("SET LOCAL hnsw.iterative_scan = relaxed_order")
    sql, params = search_sql(uq, vec if mode != "keyword" else None, k, limit, offset, mode)
    return [tuple(r) for r in conn.execute(text(sql), params)]


def ann(conn: Connection, vec: np.ndarray, k: int = 10, ef_search: int = 100, exact: bool = False) -> list[int]:
    """The k nearest papers by the HNSW index (or exactly, by a sequential scan): for recall measurements."""
    conn.exec_driver_sql(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
    if exact:
        conn.exec_driver_sql("SET LOCAL enable_indexscan = off")
    rows = conn.execute(text(f"SELECT pk FROM pg_search WHERE emb IS NOT NULL "
                             f"ORDER BY emb <#> CAST(:v AS vector({DIM})) LIMIT :k"),
                        {"v": vector_literal(vec), "k": k})
    if exact:
        conn.exec_driver_sql("SET LOCAL enable_indexscan = on")
    return [int(r[0]) for r in rows]
