"""Issue 10 §2/§4: a named paper first (arXiv id, URL, exact or misspelt title), any-term ranking in
keyword mode, and the CLI's search table and `show --format bibtex` — on real corpus papers."""

from __future__ import annotations

import json
import re

import bibtexparser
import httpx
import pytest
from conftest import corpus_records, make_site_pf, run_cli, write_jsonl

from paperfeed.search.exact import fold, title_match
from paperfeed.search.query import arxiv_ref, parse_query
from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread

MODES = ("keyword", "hybrid", "semantic")
QUESTION = "how many parameters does a large language model need to be good"


def _misspell(title: str) -> str:
    """Swap two inner letters of the two longest words (two edits per word at most)."""
    w = title.split()
    for i in sorted(range(len(w)), key=lambda i: -len(w[i]))[:2]:
        w[i] = w[i][0] + w[i][2] + w[i][1] + w[i][3:]
    return " ".join(w)


def test_arxiv_refs_are_recognised():
    assert arxiv_ref("2503.11731") == "2503.11731"
    assert arxiv_ref("arXiv:2503.11731v3") == "2503.11731"
    assert arxiv_ref("https://arxiv.org/abs/2503.11731v2") == "2503.11731"
    assert arxiv_ref("http://arxiv.org/pdf/2503.11731v1.pdf") == "2503.11731"
    assert arxiv_ref("https://arxiv.org/abs/hep-th/9901001v2") == "hep-th/9901001"
    assert arxiv_ref("2503.11731 diffusion") is None
    assert parse_query("https://arxiv.org/abs/2503.11731").paper_ref == "2503.11731"  # not a `https:` field
    assert fold("BERT: Pre-training of Deep  Transformers!") == "bert pre training of deep transformers"
    assert title_match("graph neural networks", "Graph Neural Networks for Graph Neural Networks") == -1


@pytest.mark.parametrize("mode", MODES)
def test_id_url_and_title_put_that_paper_first(keyword_db, mode):
    for rec in corpus_records(3, skip=20100):
        pid, title = rec["id"], rec["title"]
        for q in (pid, f"https://arxiv.org/abs/{pid}v2", f"arxiv.org/pdf/{pid}v1.pdf", f"arXiv:{pid}",
                  title, title.upper(), re.sub(r"[^\w\s]", " ", title.lower())):
            res = keyword_db.engine.search(q, limit=5, mode=mode)
            assert res[0].paper.id == pid and res[0].block == "exact", (mode, q)
            assert [r.paper.id for r in res].count(pid) == 1  # not repeated further down
        res = keyword_db.engine.search(_misspell(title), limit=5, mode=mode)
        assert pid in [r.paper.id for r in res[:3]], _misspell(title)


def test_named_paper_still_obeys_filters(keyword_db):
    rec = corpus_records(1, skip=20100)[0]
    res = keyword_db.engine.search(f"{rec['title']} until:2000-01-01", limit=5, mode="keyword")
    assert rec["id"] not in [r.paper.id for r in res]


def test_a_topic_query_names_no_paper(keyword_db):
    res = keyword_db.engine.search("language model", limit=5, mode="keyword")
    assert res and all(r.block != "exact" for r in res)


def test_old_style_ids_and_urls(tmp_path):
    recs = corpus_records(2, skip=20200)
    recs[0] = {**recs[0], "id": "hep-th/9901001"}
    db = tmp_path / "old.db"
    run_cli("ingest", str(write_jsonl(tmp_path / "o.jsonl", recs)), db=db, check=True)
    for q in ("hep-th/9901001", "https://arxiv.org/abs/hep-th/9901001v2", "arxiv.org/pdf/hep-th/9901001v1.pdf"):
        js = json.loads(run_cli("search", q, "--format", "json", "--mode", "keyword", db=db, check=True).stdout)
        assert js[0]["id"] == "hep-th/9901001" and js[0]["match"] == "exact"


def test_keyword_mode_ranks_any_term_matches_after_the_literal_blocks(keyword_db):
    res = keyword_db.engine.search(QUESTION, limit=50, mode="keyword")
    assert len(res) == 50  # not 0: no paper holds every word, many hold some
    assert {r.block for r in res} == {"related"}
    scores = [r.score for r in res]
    assert scores == sorted(scores, reverse=True)
    text = [f"{r.paper.title} {r.paper.abstract}".lower() for r in res]
    assert all(any(w in t for w in ("many", "param", "large", "languag", "model", "need", "good")) for t in text)
    assert sum(w in text[0] for w in ("param", "large", "languag", "model")) >= 3  # BM25: most words first
    # with literal matches present, any-term matches come after them
    mixed = keyword_db.engine.search("segmentation benchmark robotics", limit=300, mode="keyword")
    blocks = [r.block for r in mixed]
    assert "related" in blocks and blocks == sorted(blocks, key=["phrase", "all terms", "related"].index)


def test_keyword_mode_any_terms_from_the_cli(keyword_db):
    proc = run_cli("search", QUESTION, "--mode", "keyword", "--limit", "5", db=keyword_db.db_path, check=True)
    m = re.match(r"([\d,]+) results; showing 1–5", proc.stderr.strip())
    assert m and int(m.group(1).replace(",", "")) > 5, proc.stderr
    js = json.loads(run_cli("search", QUESTION, "--mode", "keyword", "--limit", "5", "--format", "json",
                            db=keyword_db.db_path, check=True).stdout)
    assert len(js) == 5 and {j["match"] for j in js} == {"related"}


def test_api_any_terms_and_named_paper(tmp_path):
    pf = make_site_pf(tmp_path)
    rec = corpus_records(1, skip=30010)[0]
    try:
        with serve_in_thread(create_app(pf, WebSettings(secret="s", arxiv_api_url=None))) as base, \
                httpx.Client(base_url=base, timeout=60) as c:
            r = c.get("/api/papers/search", params={"q": QUESTION, "limit": 10})
            assert r.status_code == 200 and len(r.json()["results"]) == 10
            for q in (f"https://arxiv.org/abs/{rec['id']}v1", rec["title"].lower(), _misspell(rec["title"])):
                r = c.get("/api/papers/search", params={"q": q, "limit": 5})
                assert r.status_code == 200 and r.json()["results"][0]["id"] == rec["id"], q
            page = c.get("/papers", params={"q": f"https://arxiv.org/abs/{rec['id']}"})
            assert page.status_code == 200 and page.text.index(rec["id"]) < page.text.index("<article", 0) + 4000
            assert "0 papers contain" not in page.text  # the named paper is counted
    finally:
        pf.close()


def test_cli_search_table_and_show_bibtex(keyword_db):
    db = keyword_db.db_path
    proc = run_cli("search", "segmentation benchmark", "--limit", "4", db=db, check=True)
    assert re.match(r"[\d,]+ results \+ related by meaning; showing 1–4$", proc.stderr.strip()), proc.stderr
    assert "Loading" not in proc.stderr and "it/s" not in proc.stderr and "%|" not in proc.stderr
    js = json.loads(run_cli("search", "segmentation benchmark", "--limit", "4", "--format", "json",
                            db=db, check=True).stdout)
    for j in js:
        assert j["id"] in proc.stdout and j["authors"][0][:12] in proc.stdout
        assert 0 < j["score"] <= 1  # one 0..1 scale (cli/render.py)
    scores = re.findall(r"│\s*(\d\.\d\d)\s*│", proc.stdout)
    assert len(scores) == 4 and all(0 < float(s) <= 1 for s in scores)
    bib = run_cli("show", js[0]["id"], "--format", "bibtex", db=db, check=True).stdout
    lib = bibtexparser.parse_string(bib)
    assert not lib.failed_blocks and len(lib.entries) == 1
    entry = lib.entries[0]
    assert js[0]["id"] in bib and entry.fields_dict["title"].value
    assert run_cli("show", "0000.00000", "--format", "bibtex", db=db).returncode == 1
