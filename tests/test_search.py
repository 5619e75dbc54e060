"""Keyword search features, index freshness and crash recovery, and the CLI's output formats."""

from __future__ import annotations

import json
import shutil
from datetime import date

import pytest
from conftest import run_cli

from paperfeed.ingestion.pages import format_date_label, parse_page
from paperfeed.ingestion.pipeline import ingest_records
from paperfeed.models import new_paper
from paperfeed.search.query import QueryError


def _kw(pf, q, limit=50):  # type: ignore[no-untyped-def]
    return pf.engine.search(q, limit=limit, mode="keyword")


def _text(p) -> str:  # type: ignore[no-untyped-def]
    return f"{p.title} {p.abstract}".lower()


def test_all_terms_required_and_title_boost(keyword_db):
    res = _kw(keyword_db, "segmentation benchmark")
    assert res, "real corpus has such papers"
    for r in res:
        assert "segment" in _text(r.paper) and "benchmark" in _text(r.paper)
    titled = [i for i, r in enumerate(res) if "segmentation" in r.paper.title.lower()]
    untitled = [i for i, r in enumerate(res) if "segmentation" not in r.paper.title.lower()]
    assert titled and untitled and sum(titled) / len(titled) < sum(untitled) / len(untitled)


def test_phrase_block_comes_first(keyword_db):
    res = _kw(keyword_db, "language model")
    blocks = [r.block for r in res]
    assert blocks == sorted(blocks, key=["phrase", "all terms"].index)
    assert blocks[0] == "phrase"
    for r in res:
        if r.block == "phrase":
            assert "language model" in " ".join(_text(r.paper).replace("-", " ").split())


def test_quoted_phrase_prefix_exclusion_author_category_dates(keyword_db):
    res = _kw(keyword_db, '"reinforcement learning"')
    assert res and all("reinforcement learning" in _text(r.paper).replace("-", " ") for r in res)
    res = _kw(keyword_db, "quantiz*")
    assert res and all("quantiz" in _text(r.paper) for r in res)
    base = _kw(keyword_db, "diffusion", 1000)
    excl = _kw(keyword_db, "diffusion -video", 1000)
    assert len(excl) < len(base) and all("video" not in _text(r.paper) for r in excl)
    some_author = base[0].paper.authors[-1]
    by_author = _kw(keyword_db, f'author:"{some_author}"')
    assert base[0].paper.id in {r.paper.id for r in by_author}
    assert all(some_author in r.paper.authors for r in by_author)
    cat = _kw(keyword_db, "diffusion cat:cs.CL", 1000)
    assert cat and all("cs.CL" in r.paper.categories for r in cat) and len(cat) < len(base)
    days = sorted({r.paper.listed for r in base})
    mid = days[len(days) // 2]
    ranged = _kw(keyword_db, f"diffusion since:{mid.isoformat()}", 200)
    assert ranged and all(r.paper.listed >= mid for r in ranged)
    newest = keyword_db.engine.search("cat:cs.CV", limit=20)
    listed = [r.paper.listed for r in newest]
    assert listed == sorted(listed, reverse=True) and all("cs.CV" in r.paper.categories for r in newest)


def test_order_is_deterministic_and_paginates(keyword_db):
    a = _kw(keyword_db, "graph neural network", 40)
    b = _kw(keyword_db, "graph neural network", 40)
    assert [r.paper.id for r in a] == [r.paper.id for r in b]
    page2 = keyword_db.engine.search("graph neural network", limit=20, offset=20, mode="keyword")
    assert [r.paper.id for r in page2] == [r.paper.id for r in a[20:40]]


def test_malformed_queries_raise_clean_errors(keyword_db):
    for bad, msg in (('"open', "unbalanced quote"), ("x*y* a*", "too short"), ("-x", "only exclusions")):
        with pytest.raises(QueryError, match=msg):
            keyword_db.engine.search(bad, mode="keyword")


def test_keyword_index_catches_up_after_writes_and_crashes(tmp_path, keyword_db):
    from paperfeed.core import Paperfeed

    src = keyword_db.db_path
    db = tmp_path / "copy.db"
    shutil.copy(src, db)
    pf = Paperfeed(db)  # same store identity, no index yet beside the copy
    assert pf.status().keyword_seq == -1
    assert len(_kw(pf, "transformer")) > 0  # search rebuilds what is missing
    p = new_paper(title="Zyxwvut quokka retrieval", abstract="A unique marker word: frobnicated.",
                  arxiv_id="2699.00001", source="arxiv-jsonl", listed=date(2026, 1, 1))
    ingest_records(pf.store, [p], "t")
    assert not pf.status().keyword_fresh
    assert [r.paper.id for r in _kw(pf, "frobnicated")] == ["2699.00001"]  # caught up on read
    # simulate a crash after the index commit but before its state file was written
    state = pf.engine.lexical.path / "state.json"
    st = json.loads(state.read_text())
    st["seq"] -= 1
    state.write_text(json.dumps(st))
    assert [r.paper.id for r in _kw(pf, "frobnicated")] == ["2699.00001"]  # replay is idempotent
    pf.engine.lexical.index.reload()
    assert pf.engine.lexical.index.searcher().num_docs == pf.store.count()  # replaced, not duplicated
    # a destroyed index is rebuilt from the store
    shutil.rmtree(pf.engine.lexical.path)
    pf.engine.lexical._index = None
    assert [r.paper.id for r in _kw(pf, "frobnicated")] == ["2699.00001"]
    pf.close()


def test_cli_formats_page_json_table(tmp_path, keyword_db):
    db = keyword_db.db_path
    page = run_cli("search", "segmentation", "--format", "page", "--limit", "7", "--mode", "keyword", db=db,
                   check=True)
    doc = parse_page(page.stdout.rstrip("\n"))
    assert doc.date_label == format_date_label(date.today())
    assert len(doc.entries) == 7
    js = json.loads(run_cli("search", "segmentation", "--format", "json", "--limit", "7", "--mode", "keyword",
                            db=db, check=True).stdout)
    assert [t for t, _a in doc.entries] == [j["title"] for j in js]
    for key in ("id", "title", "abstract", "authors", "date", "score"):
        assert key in js[0]
    table = run_cli("search", "segmentation", "--limit", "3", "--mode", "keyword", db=db, check=True)
    assert js[0]["id"] in table.stdout
    shown = json.loads(run_cli("show", js[0]["id"], "--format", "json", db=db, check=True).stdout)
    assert shown["title"] == js[0]["title"]
    st = json.loads(run_cli("status", "--format", "json", db=db, check=True).stdout)
    assert st["papers"] == 3000 and st["keyword_fresh"] is True
    bad = run_cli("search", '"unclosed', db=db)
    assert bad.returncode == 1 and bad.stderr.startswith("error: bad query: unbalanced quote")
    assert run_cli("search", "x", "--since", "nope", db=db).returncode == 1
    assert run_cli("search", db=db).returncode == 2
    assert run_cli("show", "0000.00000", db=db).returncode == 1


@pytest.mark.parametrize("query", ["<script>alert(1)</script>", "$\\alpha$", "a OR b AND (c", "💥 ∑ ∞", "title:"])
def test_odd_queries_never_crash(keyword_db, query):
    try:
        keyword_db.engine.search(query, mode="keyword")
    except QueryError as e:
        assert str(e)


def test_hostile_text_survives_every_output_format(tmp_path):
    hostile_title = "[bold]Not markup[/bold] <script>alert(1)</script> & $\\alpha$-nets \\% 100%"
    hostile_abs = ("Abstract with <b>HTML</b>, &amp; entities, LaTeX $\\sum_i x_i^2$ and \u202eRTL\u202c "
                   "🧪 [red]x[/red].")
    db = tmp_path / "h.db"
    rec = {"id": "2601.00042", "date": "2026-01-02", "title": hostile_title, "abstract": hostile_abs,
           "authors": ["Émile [Zola]"], "categories": ["cs.CL"], "comment": None}
    src = tmp_path / "h.jsonl"
    src.write_text(json.dumps(rec, ensure_ascii=False) + "\n", encoding="utf-8")
    run_cli("ingest", str(src), db=db, check=True)
    js = json.loads(run_cli("search", "script alert", "--format", "json", "--mode", "keyword", db=db,
                            check=True).stdout)
    assert js[0]["title"] == hostile_title and js[0]["abstract"] == hostile_abs
    page = run_cli("search", "alpha nets", "--format", "page", "--mode", "keyword", db=db, check=True).stdout
    assert parse_page(page.rstrip("\n")).entries == [(hostile_title, hostile_abs)]
    table = run_cli("search", "alpha", "--mode", "keyword", db=db, check=True).stdout
    assert "[bold]Not markup[/bold]" in table  # shown as text, not interpreted as markup
    shown = run_cli("show", "2601.00042", db=db, check=True).stdout
    assert "Émile [Zola]" in shown and "<script>" in shown


def test_progress_bars_can_be_forced_for_non_terminals(tmp_path, corpus_3000):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PAPERFEED_DB": str(tmp_path / "p.db"), "PAPERFEED_PROGRESS": "1"}
    proc = subprocess.run([sys.executable, "-m", "paperfeed.cli.main", "ingest", str(corpus_3000)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0
    assert "ingest slice.jsonl.gz" in proc.stderr and "keyword index" in proc.stderr
    assert "3000/3000" in proc.stderr  # the keyword index bar counts papers
