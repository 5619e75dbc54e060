"""Saved search-result pages: reading the real saved pages and writing pages that read back the same.

The three real pages in ../shared/data/papers-pages are the reference for the format: reading
then rendering them must give the same bytes, so the page writer cannot drift from what the
site produces.  Hostile text (newlines, markup, LaTeX, control characters, any Unicode) must
survive render → parse with only whitespace collapsed, because a page is one field per line.
"""

from __future__ import annotations

import random
import unicodedata
from datetime import date
from pathlib import Path

import pytest

from paperfeed.cli.page_text import one_line, render_page
from paperfeed.ingestion.errors import IngestError, RecordError
from paperfeed.ingestion.pages import (
    PAGE_HEADER,
    PageDoc,
    decode_input,
    format_date_label,
    parse_page,
    read_page,
    read_page_doc,
)
from paperfeed.models import Paper, make_paper_id

PAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "papers-pages"
# (file, header date, number of entries, first title)
REAL_PAGES = [
    (
        "page-a.txt",
        "Mar 14",
        78,
        "SILO Language Models: Isolating Legal Risk In a Nonparametric Datastore",
    ),
    (
        "page-b.txt",
        "Mar 11",
        143,
        "One Eye is All You Need: Lightweight Ensembles for Gaze Estimation with Single Encoders",
    ),
    (
        "page-c.txt",
        "Mar 12",
        117,
        "How to Handle Different Types of Out-of-Distribution Scenarios in Computational Argumentation? "
        "A Comprehensive and Fine-Grained Field Study",
    ),
]
HEADER_TEXT = "\n\n".join(PAGE_HEADER)


def page_text(entries: list[tuple[str, str]], label: str = "Mar 14") -> str:
    """A page written by hand (not by render_page), so reader tests do not depend on the writer."""
    return "\n\n".join([*PAGE_HEADER, label, *(x for pair in entries for x in pair)])


# --------------------------------------------------------------------------- the real pages


@pytest.mark.parametrize(("name", "label", "count", "first_title"), REAL_PAGES)
def test_real_page_is_parsed_with_date_and_rank_order(name, label, count, first_title):
    raw = (PAGES / name).read_bytes()
    doc = read_page_doc(PAGES / name)

    assert doc.date_label == label
    assert (doc.month, doc.day) == (3, int(label.split()[1]))
    assert doc.errors == []
    assert len(doc.entries) == count == (raw.count(b"\n") + 2 - 10) // 4
    assert doc.entries[0][0] == first_title
    # Entry k's title is on line 11 + 4k: five header lines, then title/abstract, all blank-separated.
    assert doc.entry_lines == [11 + 4 * k for k in range(count)]
    lines = raw.decode("utf-8").split("\n")
    assert [t for t, _ in doc.entries] == lines[10::4]
    assert [a for _, a in doc.entries] == lines[12::4]
    assert all(len(a) > 1000 for _, a in doc.entries)


@pytest.mark.parametrize("name", [p[0] for p in REAL_PAGES])
def test_read_page_yields_papers_in_page_order(name):
    doc = read_page_doc(PAGES / name)
    items = list(read_page(PAGES / name))

    assert all(isinstance(p, Paper) for p in items)
    assert [(p.title, p.abstract) for p in items] == doc.entries
    for p in items:
        assert p.sources == ["page"]
        assert p.arxiv_id is None and p.doi is None
        assert p.id == make_paper_id(None, None, p.title) and p.id.startswith("t:")
    assert len({p.id for p in items}) == len(items)


def test_real_page_content_is_kept_exactly():
    items = list(read_page(PAGES / "page-a.txt"))
    assert items[0].abstract.startswith("The legality of training language models (LMs) on copyrighted")
    pi = [p for p in items if "π" in p.title + p.abstract]
    assert len(pi) == 1  # the one non-ASCII character of the page survives decoding


@pytest.mark.parametrize("name", [p[0] for p in REAL_PAGES])
def test_render_of_parsed_real_page_is_byte_identical(name):
    original = (PAGES / name).read_bytes()
    doc = parse_page(original.decode("utf-8"))

    rendered = render_page(doc.entries, today=date(2024, doc.month, doc.day))

    assert rendered.encode("utf-8") == original
    again = parse_page(rendered)
    assert (again.date_label, again.entries, again.errors) == (doc.date_label, doc.entries, [])


@pytest.mark.parametrize("name", [p[0] for p in REAL_PAGES])
def test_trailing_newline_and_crlf_are_accepted(name):
    text = (PAGES / name).read_text(encoding="utf-8")
    doc = parse_page(text)
    assert parse_page(text + "\n").entries == doc.entries
    assert parse_page(text.replace("\n", "\r\n") + "\r\n").entries == doc.entries
    assert parse_page("\ufeff" + text).entries == doc.entries


# --------------------------------------------------------------------------- the writer


@pytest.mark.parametrize(
    ("day", "label"),
    [(date(2024, 3, 14), "Mar 14"), (date(2023, 11, 3), "Nov 3"), (date(2024, 2, 29), "Feb 29")],
)
def test_date_label_is_english_month_and_unpadded_day(day, label):
    assert format_date_label(day) == label
    assert render_page([], day) == HEADER_TEXT + "\n\n" + label
    doc = parse_page(render_page([], day))
    assert (doc.date_label, doc.month, doc.day, doc.entries) == (label, day.month, day.day, [])


def test_zero_padded_day_is_read_too():
    doc = parse_page(page_text([("T", "A")], label="Nov 03"))
    assert (doc.month, doc.day, doc.entries) == (11, 3, [("T", "A")])


HOSTILE = [
    ("Line one\nline two\r\nline three", "abs\n\nwith a blank line in the middle\n\n\n\nand more"),
    ("<script>alert('x')</script> & <b>bold</b>", '<img src=x onerror="alert(1)"> &amp; &lt;'),
    (
        r"$\mathcal{O}(n \log n)$ bounds for \textbf{sorting} {\"o}",
        r"We show $\sum_{i=1}^n i^2$ \\ newline % not a comment",
    ),
    (
        "Ünïcödé 数学 العربية עברית 😀 e\u0301",
        "Zero\u200bwidth, NBSP\u00a0here, line\u2028separator, para\u2029sep",
    ),
    ("Subscribe", "new"),  # header words as content must not confuse the reader
    ("Mar 14", "Get trending papers in your email inbox!"),
    ("   leading and trailing   \t", "\t\ttabs\tinside\t"),
    ("Control\x00chars\x07and\x1bescape\x7fdel\x85nel", "vertical\x0btab\x0cformfeed\x1cfile-sep"),
    ("Empty abstract follows", ""),
    ("Whitespace-only abstract follows", " \n\t\r\n "),
    ("Last title", "last abstract"),
]


def test_hostile_text_round_trips_modulo_whitespace(tmp_path):
    rendered = render_page(HOSTILE, date(2024, 3, 14))
    doc = parse_page(rendered)

    expected = [(one_line(t), one_line(a)) for t, a in HOSTILE]
    assert doc.entries == expected
    assert doc.errors == []
    # Only whitespace and control characters (category Cc) changed: every other character is kept.
    for (t, a), (pt, pa) in zip(HOSTILE, doc.entries, strict=True):
        for given, got in ((t, pt), (a, pa)):
            kept = "".join(" " if unicodedata.category(c) == "Cc" else c for c in given)
            assert got == " ".join(kept.split())
    assert doc.entries[1] == HOSTILE[1]  # markup is text: nothing escaped or stripped
    assert doc.entries[2][0] == HOSTILE[2][0]  # LaTeX untouched
    assert doc.entries[3][0] == HOSTILE[3][0]  # combining accents, RTL, emoji untouched
    assert doc.entries[8][1] == doc.entries[9][1] == ""

    # The same through a file, as the CLI writes and later reads it.
    path = tmp_path / "page.txt"
    path.write_text(rendered + "\n", encoding="utf-8")
    papers = list(read_page(path))
    assert [(p.title, p.abstract) for p in papers] == expected


def test_random_text_round_trips_modulo_whitespace():
    alphabet = list("ab Z9.,;:-_'\"<>&$\\{}%#\n\r\t") + [
        "\u2028",
        "\x85",
        "é",
        "ß",
        "😀",
        "\u0301",
        "\x00",
        "\x0b",
    ]
    rng = random.Random(20240314)
    for _ in range(200):
        entries = []
        for _ in range(rng.randint(0, 6)):
            title = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
            abstract = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
            if not one_line(title):
                title = "x" + title
            entries.append((title, abstract))
        doc = parse_page(render_page(entries, date(2024, 1, 5)))
        assert doc.entries == [(one_line(t), one_line(a)) for t, a in entries]
        assert doc.errors == []
        assert doc.date_label == "Jan 5"


def test_render_refuses_an_empty_title():
    with pytest.raises(ValueError, match="entry 2 has an empty title"):
        render_page([("ok", "a"), (" \n ", "abstract")], date(2024, 3, 14))


# --------------------------------------------------------------------------- damaged and wrong input


def test_title_without_abstract_is_a_record_error_at_its_line(tmp_path):
    path = tmp_path / "odd.txt"
    path.write_text(page_text([("First", "Abstract one"), ("Second", "Abstract two")]) + "\n\nDangling title")

    items = list(read_page(path))

    assert [p.title for p in items if isinstance(p, Paper)] == ["First", "Second"]
    errors = [e for e in items if isinstance(e, RecordError)]
    assert len(errors) == 1
    assert errors[0].location.source == str(path)
    assert errors[0].location.line == 19  # 10 header lines (with blanks) + 2 entries * 4
    assert "'Dangling title' has no abstract" in errors[0].message
    assert isinstance(items[-1], RecordError)


def test_stray_blank_lines_and_missing_blank_lines_are_tolerated():
    entries = [("T1", "A1"), ("T2", "A2"), ("T3", "A3")]
    spaced = page_text(entries).replace("A1\n\nT2", "A1\n\n\n\n\n\nT2")  # extra blank lines between entries
    compact = "\n".join([*PAGE_HEADER, "Mar 14", "T1", "A1", "T2", "A2", "T3", "A3"])  # no blank lines
    for text in (spaced, compact, "\n\n" + page_text(entries) + "\n\n\n"):
        doc = parse_page(text)
        assert doc.entries == entries
        assert doc.errors == []
    assert parse_page(spaced).entry_lines == [11, 19, 23]
    assert parse_page(compact).entry_lines == [6, 8, 10]


def test_header_only_page_has_no_entries():
    doc = parse_page(page_text([]))
    assert isinstance(doc, PageDoc)
    assert (doc.date_label, doc.entries, doc.errors) == ("Mar 14", [], [])


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("@article{x, title={Not a page}}", 1, "expected header line 1 to be 'new'"),
        ("new\n\nGet trending papers in your email inbox!\n\nUnsubscribe", 5, "to be 'Subscribe'"),
        (HEADER_TEXT + "\n\nA title\n\nAn abstract", 9, "expected a date such as 'Mar 14'"),
        (HEADER_TEXT + "\n\nMar 32\n\nT\n\nA", 9, "found 'Mar 32'"),
        (HEADER_TEXT + "\n\nFeb 30", 9, "found 'Feb 30'"),
        (HEADER_TEXT, 7, "date line after the header is missing"),
        ("new", 1, "found '<end of file>'"),
    ],
)
def test_not_a_page_is_an_ingest_error_with_its_line(tmp_path, text, line, message):
    path = tmp_path / "wrong.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(IngestError) as exc:
        read_page(path)
    assert message in exc.value.message
    assert exc.value.location is not None
    assert (exc.value.location.source, exc.value.location.line) == (str(path), line)
    assert "not a saved papers page" in str(exc.value) or message == "found '<end of file>'"


def test_latin1_page_is_read_when_that_is_safe(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(page_text([("Schrödinger’s café", "Ünïcode – déjà vu")]).encode("cp1252"))
    (paper,) = read_page(path)
    assert (paper.title, paper.abstract) == ("Schrödinger’s café", "Ünïcode – déjà vu")


def test_damaged_utf8_page_names_the_first_bad_byte(tmp_path):
    data = page_text([("Schrödinger", "x")]).encode("utf-8") + b"\n\nCaf\xe9 title\n\nabstract"
    path = tmp_path / "mixed.txt"
    path.write_bytes(data)
    with pytest.raises(IngestError) as exc:
        read_page(path)
    offset = data.index(b"\xe9")
    assert exc.value.location is not None and exc.value.location.offset == offset
    assert f"byte 0xE9 at offset {offset}" in exc.value.message
    assert "damaged UTF-8" in exc.value.message


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file (0 bytes)"),
        (b"  \n\n \t\n", "empty file"),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
            "binary file, not text (NUL byte at offset 8)",
        ),
        (bytes(range(1, 32)) * 20, "binary file, not text"),
        (b"\xef\xbb\xbf", "empty file"),
    ],
)
def test_unreadable_page_file_is_a_clear_ingest_error(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(IngestError) as exc:
        read_page(path)
    assert message in exc.value.message
    assert str(exc.value).startswith(str(path))


def test_missing_file_and_directory_are_ingest_errors(tmp_path):
    with pytest.raises(IngestError, match="file not found"):
        read_page(tmp_path / "nope.txt")
    with pytest.raises(IngestError, match="is a directory"):
        read_page(tmp_path)


def test_decode_input_encodings():
    assert decode_input("\ufeffnew é".encode(), "x") == "new é"
    assert decode_input("new é 😀".encode("utf-16"), "x") == "new é 😀"
    assert decode_input(b"caf\xe9 \x93quoted\x94 \x80", "x") == "café “quoted” €"
    with pytest.raises(IngestError, match=r"byte 0x81 at offset 3 is undefined in cp1252"):
        decode_input(b"abc\x81def", "x")


def test_page_date_resolves_to_latest_such_day():
    dec = parse_page(page_text([], label="Dec 31"))
    assert dec.date_for(date(2025, 1, 2)) == date(2024, 12, 31)
    assert dec.date_for(date(2025, 12, 31)) == date(2025, 12, 31)
    leap = parse_page(page_text([], label="Feb 29"))
    assert leap.date_for(date(2025, 3, 1)) == date(2024, 2, 29)
