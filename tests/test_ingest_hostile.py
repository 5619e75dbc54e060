"""Hostile records through the real `paperfeed ingest`: control characters stripped and unsafe links dropped,
each reported as `file:line: …`, the paper itself kept (issue 8: links and control characters)."""

from __future__ import annotations

import json

from conftest import run_cli

from paperfeed.core import Paperfeed
from paperfeed.ingestion.sanitise import CONTROL, sanitise
from paperfeed.models import new_paper

GOOD = {"id": "2501.00001", "date": "2025-01-06", "title": "A well-behaved paper", "abstract": "Nothing odd.",
        "authors": ["Ada Lovelace"], "categories": ["cs.LG"]}
EVIL = {"id": "2501.00002", "date": "2025-01-06", "title": "Nul\x00 and \x1b[31mescape in a title",
        "abstract": "Bell\x07 and DEL\x7f and a C1\x85control \u0085 here.", "authors": ["Eve\x01 Adams"],
        "categories": ["cs.CR"], "comment": "12 pages\x00",
        "pdf": "javascript:alert(document.cookie)", "code": "data:text/html,<script>alert(1)</script>",
        "abs": "  https://example.org/abs/2501.00002  "}


def test_jsonl_controls_and_links_are_cleaned_and_reported_with_file_and_line(tmp_path):
    src = tmp_path / "hostile.jsonl"
    src.write_text(json.dumps(GOOD) + "\n" + json.dumps(EVIL) + "\n", encoding="utf-8")
    db = tmp_path / "p.db"
    proc = run_cli("ingest", str(src), db=db)
    assert proc.returncode == 0, proc.stderr
    err = " ".join(proc.stderr.split())  # rich may wrap long lines
    assert f"{src}:2: link 'pdf' dropped (only http(s) links are kept)" in err
    assert f"{src}:2: link 'code' dropped" in err
    assert f"{src}:2: control characters removed from title, abstract, comment, authors" in err
    assert "added 2" in err and "rejected 0" in err  # nothing lost: both papers stored
    assert "Traceback" not in proc.stderr
    pf = Paperfeed(db)
    try:
        p = pf.store.get("2501.00002")
        assert p is not None
        assert p.title == "Nul and [31mescape in a title"
        assert not CONTROL.search(p.abstract) and "Bell and DEL and a" in p.abstract
        assert p.authors == ["Eve Adams"] and p.comment == "12 pages"
        # abs trimmed and kept, code gone, pdf back to the arXiv link paperfeed builds itself
        assert p.links == {"abs": "https://example.org/abs/2501.00002", "pdf": "https://arxiv.org/pdf/2501.00002"}
        assert set(pf.store.get("2501.00001").links) == {"abs", "pdf"}
    finally:
        pf.close()


def test_bibtex_control_character_is_reported_at_the_entry_line(tmp_path):
    src = tmp_path / "lib.bib"
    src.write_text("@article{ok, title={Fine}, author={A. B}, year={2024}}\n\n"
                   "@article{bad,\n  title={Tab\x01bed title},\n  author={C. D},\n  year={2024},\n"
                   "  url={https://example.org/p}\n}\n", encoding="utf-8")
    proc = run_cli("ingest", str(src), db=tmp_path / "p.db")
    assert proc.returncode == 0, proc.stderr
    err = " ".join(proc.stderr.split())
    assert f"{src}:3: control characters removed from title" in err and "added 2" in err


def test_strict_mode_is_not_tripped_by_warnings(tmp_path):
    """A cleaned record is not a malformed one: `--strict` still takes the input."""
    src = tmp_path / "hostile.jsonl"
    src.write_text(json.dumps(EVIL) + "\n", encoding="utf-8")
    proc = run_cli("ingest", "--strict", str(src), db=tmp_path / "p.db")
    assert proc.returncode == 0 and "added 1" in " ".join(proc.stderr.split()), proc.stderr


def test_sanitise_leaves_clean_papers_alone_and_keeps_doi_ids_consistent():
    clean = new_paper(title="Clean", abstract="Text.", arxiv_id="2501.00003", source="t")
    assert sanitise(clean) == (clean, [])
    dirty = new_paper(title="T", doi="10.1000/ab\x00c", source="t")
    fixed, notes = sanitise(dirty)
    assert fixed.doi == "10.1000/abc" and fixed.id == "doi:10.1000/abc" and "doi" in notes[0]
