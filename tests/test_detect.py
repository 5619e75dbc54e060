"""Format detection and the reader registry: every format is found by name or content, and extensible."""

from __future__ import annotations

import shutil

import pytest
from conftest import PAGES, corpus_records, write_jsonl

from paperfeed.hookspecs import READERS, register_reader
from paperfeed.ingestion.detect import open_input, sniff
from paperfeed.ingestion.errors import IngestError
from paperfeed.models import Paper, new_paper

BIB = "@article{k1,\n  title = {A Study of Things},\n  author = {Doe, Jane and Roe, Rick},\n  year = {2024}\n}\n"
RIS = "TY  - JOUR\nTI  - A Study of Things\nAU  - Doe, Jane\nPY  - 2024\nER  - \n"
ATOM = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"
      xmlns:arxiv="http://arxiv.org/schemas/atom">
  <opensearch:totalResults>1</opensearch:totalResults><opensearch:startIndex>0</opensearch:startIndex>
  <opensearch:itemsPerPage>1</opensearch:itemsPerPage>
  <entry><id>http://arxiv.org/abs/2501.01234v2</id><updated>2025-01-05T00:00:00Z</updated>
    <published>2025-01-02T00:00:00Z</published><title>An Atom Paper</title><summary>Text.</summary>
    <author><name>Ann Author</name></author>
    <arxiv:primary_category term="cs.CL"/><category term="cs.CL"/></entry>
</feed>"""


@pytest.mark.parametrize(
    ("name", "content", "fmt"),
    [("a.bib", BIB, "bibtex"), ("noext", BIB, "bibtex"), ("x.txt", RIS, "ris"), ("feed.xml", ATOM, "atom"),
     ("lib.csv", "id,title\n1,A\n", "csv")],
)
def test_sniff_by_name_or_content(tmp_path, name, content, fmt):
    p = tmp_path / name
    p.write_text(content)
    assert sniff(p) == fmt


def test_pages_and_gzip_detected_and_read(tmp_path):
    page = tmp_path / "saved"
    shutil.copy(PAGES / "page-a.txt", page)
    assert sniff(page) == "page"
    gz = write_jsonl(tmp_path / "noext", corpus_records(3), gz=True)
    assert sniff(gz) == "jsonl"
    records, size = open_input(str(gz))
    assert [p.id for p in records if isinstance(p, Paper)] == [r["id"] for r in corpus_records(3)]
    assert size == gz.stat().st_size


def test_atom_file_is_ingestible(tmp_path):
    f = tmp_path / "feed.xml"
    f.write_text(ATOM)
    (p,) = list(open_input(str(f))[0])
    assert p.id == "2501.01234" and p.authors == ["Ann Author"] and p.categories == ["cs.CL"]


def test_unknown_format_and_registry(tmp_path):
    f = tmp_path / "x.weird"
    f.write_text("hello")
    with pytest.raises(IngestError, match="cannot tell the format"):
        open_input(str(f))
    with pytest.raises(IngestError, match="unknown format 'nope'"):
        open_input(str(f), "nope")
    register_reader("weird", "tests_weird_reader:read_weird")
    try:
        import sys
        import types

        mod = types.ModuleType("tests_weird_reader")
        mod.read_weird = lambda path: iter([new_paper(title=path.read_text(), source="csv")])  # type: ignore[attr-defined]
        sys.modules["tests_weird_reader"] = mod
        (p,) = list(open_input(str(f), "weird")[0])
        assert p.title == "hello"
    finally:
        READERS.pop("weird")
