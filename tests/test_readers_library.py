"""User libraries: BibTeX, CSV and RIS as Zotero (and hand-made files) write them.

The fixtures are realistic exports written to tmp_path: an arXiv preprint as Zotero exports
it (id only in URL, arXiv DOI and note), a journal article with a DOI only, LaTeX accents and
case-protecting braces, and one broken record per file.  A broken record must cost only
itself (reported with its line), and an unreadable file must be one clear IngestError.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import date
from pathlib import Path

import pytest

from paperfeed.ingestion.bibtex import (
    find_arxiv_id,
    flip_name,
    latex_to_text,
    parse_loose_date,
    read_bibtex,
)
from paperfeed.ingestion.csv_ris import read_csv, read_ris
from paperfeed.ingestion.errors import IngestError, RecordError
from paperfeed.models import Paper

ZOTERO_BIB = r"""
@misc{vaswani_attention_2023,
	title = {Attention {Is} {All} {You} {Need}},
	url = {http://arxiv.org/abs/1706.03762},
	doi = {10.48550/arXiv.1706.03762},
	abstract = {The dominant sequence transduction models are based on complex recurrent or
convolutional neural networks. We propose the {Transformer}: 28.4 {BLEU} on 50% of
the {WMT} 2014 English-to-German task \& more.},
	urldate = {2024-01-15},
	publisher = {arXiv},
	author = {Vaswani, Ashish and Shazeer, Noam and Parmar, Niki},
	month = aug,
	year = {2023},
	note = {arXiv:1706.03762 [cs]},
	keywords = {Computer Science - Computation and Language, Computer Science - Machine Learning},
	file = {arXiv Fulltext PDF:/home/u/Zotero/storage/Q4J8ZX/Vaswani et al. - 2023.pdf:application/pdf},
}

@article{muller_uber_2019,
	title = {{\"U}ber die {Schr\"{o}dinger}-{Gleichung} in {Caf\'e}-{Netzwerken}},
	volume = {12},
	doi = {10.1000/XYZ\_123},
	journal = {Zeitschrift f{\"u}r {Physik}},
	author = {M{\"u}ller, J{\"o}rg and {\O}stergaard, S{\o}ren and Garc{\'\i}a M{\'a}rquez, Gabriel},
	month = mar,
	year = {2019},
	pages = {1--10},
}

@article{broken_2020,
	title = {Broken entry with an unclosed brace,
	author = {Nobody, N.},
	year = {2020},
}

@online{smith_biblatex_2021,
	title = {{$\alpha$}-{Helices}: {A} {\textless}i{\textgreater}Survey{\textless}/i{\textgreater}},
	author = {Smith, John and {OpenAI Team} and others},
	date = {2021-03-04},
	eprinttype = {arxiv},
	eprint = {2103.01234},
	urldate = {2021-05-01},
	file = {Smith - 2021.pdf:/x/Smith - 2021.pdf:application/pdf},
}
"""


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def split(items: list) -> tuple[list[Paper], list[RecordError]]:
    papers = [x for x in items if isinstance(x, Paper)]
    errors = [x for x in items if isinstance(x, RecordError)]
    assert len(papers) + len(errors) == len(items)
    return papers, errors


# --------------------------------------------------------------------------- BibTeX


def test_zotero_bibtex_export(tmp_path):
    path = write(tmp_path, "My Library.bib", ZOTERO_BIB)
    items = list(read_bibtex(path))

    assert [type(x).__name__ for x in items] == ["Paper", "Paper", "RecordError", "Paper"]
    arxiv, doi_only, error, biblatex = items

    assert arxiv.id == arxiv.arxiv_id == "1706.03762"
    assert arxiv.title == "Attention Is All You Need"
    assert arxiv.authors == ["Ashish Vaswani", "Noam Shazeer", "Niki Parmar"]
    assert arxiv.published == date(2023, 8, 1)  # month = aug (a macro), first of the month
    assert arxiv.doi == "10.48550/arxiv.1706.03762"
    assert arxiv.abstract == (
        "The dominant sequence transduction models are based on complex recurrent or convolutional "
        "neural networks. We propose the Transformer: 28.4 BLEU on 50% of the WMT 2014 "
        "English-to-German task & more."
    )
    assert arxiv.links["abs"] == "https://arxiv.org/abs/1706.03762"
    assert arxiv.sources == ["bibtex"]
    assert arxiv.categories == []  # Zotero keywords are not arXiv categories

    assert doi_only.id == "doi:10.1000/xyz_123"
    assert doi_only.arxiv_id is None
    assert doi_only.title == "Über die Schrödinger-Gleichung in Café-Netzwerken"
    assert doi_only.authors == ["Jörg Müller", "Søren Østergaard", "Gabriel García Márquez"]
    assert doi_only.published == date(2019, 3, 1)
    assert doi_only.comment == "Zeitschrift für Physik"
    assert doi_only.links == {"doi": "https://doi.org/10.1000/xyz_123"}

    assert error.location.source == str(path)
    assert error.location.line == 30  # the line of "@article{broken_2020,"
    assert path.read_text().split("\n")[29].startswith("@article{broken_2020")
    assert "'broken_2020'" in error.message and "Unexpected block start" in error.message

    assert biblatex.id == "2103.01234"
    assert biblatex.title == r"$\alpha$-Helices: A <i>Survey</i>"
    assert biblatex.authors == ["John Smith", "OpenAI Team"]  # "and others" is not an author
    assert biblatex.published == date(2021, 3, 4)


def test_bibtex_strings_concatenation_months_and_odd_entries(tmp_path):
    text = r"""@string{neurips = "Advances in Neural Information Processing Systems"}
@string{ STRCASE = {Case Test} }

@inproceedings{a, title = "Quoted " # {{GPT}-4} # " title", booktitle = NeurIPS # " 36",
  author = "King, Jr., Martin Luther and Ludwig van Beethoven and {Simon and Schuster}",
  year = 2023, month = {December}}
@misc{a, title = {Same key again}, year = {2020}, month = 13}
@misc{notitle, author = {Doe, Jane}, year = {2021}}
@misc{twotitles, title = {One}, title = {Two}}
@misc{scholar, title={Language models are few-shot learners}, journal={arXiv preprint arXiv:2005.14165},
  year={2020}}
@misc{weird, title = {\href{http://x.org}{Link} in {\relax Th}e title \unknownmacro{arg} $x$}, year = {n.d.}}
@comment{this is ignored}
"""
    items = list(read_bibtex(write(tmp_path, "x.bib", text)))
    papers, errors = split(items)

    assert [p.title for p in papers] == [
        "Quoted GPT-4 title",
        "Same key again",
        "Language models are few-shot learners",
        papers[3].title,
    ]
    first = papers[0]
    assert first.comment == "Advances in Neural Information Processing Systems 36"
    assert first.authors == ["Martin Luther King Jr.", "Ludwig van Beethoven", "Simon and Schuster"]
    assert first.published == date(2023, 12, 1)
    assert papers[1].published == date(2020, 1, 1)  # month 13 is nonsense: year only
    assert papers[2].arxiv_id == "2005.14165"  # Google Scholar puts the id in `journal`
    assert "Link" in papers[3].title and "The title" in papers[3].title  # pylatexenc failed, fallback
    assert papers[3].published is None

    assert [(e.location.line, e.message) for e in errors] == [
        (8, "entry 'notitle' has no title"),
        (9, "BibTeX entry 'twotitles' (@misc): field(s) title given more than once, "
         "so it is unclear which value is meant"),
    ]  # fmt: skip


def test_latin1_bibtex_is_read_when_safe(tmp_path):
    text = (
        "@article{m, title = {Études sur la Schrödinger-Gleichung}, author = {Müller, Jörg}, year = {1999}}\n"
    )
    path = write(tmp_path, "latin1.bib", text, encoding="latin-1")
    (paper,) = read_bibtex(path)
    assert paper.title == "Études sur la Schrödinger-Gleichung"
    assert paper.authors == ["Jörg Müller"]


def test_mixed_encoding_bibtex_names_the_first_bad_byte(tmp_path):
    data = "@misc{a, title = {Café}}\n".encode() + b"@misc{b, title = {Fa\xe7ade}}\n"
    path = tmp_path / "mixed.bib"
    path.write_bytes(data)
    with pytest.raises(IngestError) as exc:
        read_bibtex(path)
    offset = data.index(b"\xe7")
    assert exc.value.location is not None
    assert (exc.value.location.source, exc.value.location.offset) == (str(path), offset)
    assert f"byte 0xE7 at offset {offset} (line 2)" in exc.value.message
    assert str(exc.value).startswith(f"{path}@byte {offset}: not valid UTF-8")


def test_bibtex_without_entries_is_an_ingest_error(tmp_path):
    with pytest.raises(IngestError, match="no BibTeX entries"):
        read_bibtex(write(tmp_path, "notes.bib", "Just some notes, no entries.\n% a comment\n"))


# --------------------------------------------------------------------------- CSV

ZOTERO_COLUMNS = [
    "Key", "Item Type", "Publication Year", "Author", "Title", "Publication Title", "ISBN", "ISSN", "DOI",
    "Url", "Abstract Note", "Date", "Date Added", "Date Modified", "Access Date", "Pages", "Num Pages",
    "Issue", "Volume", "Number Of Volumes", "Journal Abbreviation", "Short Title", "Series",
    "Series Number", "Series Text", "Series Title", "Publisher", "Place", "Language", "Rights", "Type",
    "Archive", "Archive Location", "Library Catalog", "Call Number", "Extra", "Notes", "File Attachments",
    "Link Attachments", "Manual Tags", "Automatic Tags", "Editor",
]  # fmt: skip


def zotero_csv(rows: list[dict[str, str]]) -> str:
    """CSV as Zotero writes it: BOM, every field quoted, CRLF line ends, all columns present."""
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=ZOTERO_COLUMNS, quoting=csv.QUOTE_ALL, restval="")
    w.writeheader()
    w.writerows(rows)
    return "\ufeff" + out.getvalue()


def test_zotero_csv_export(tmp_path):
    text = zotero_csv(
        [
            {
                "Key": "VZ5ZQ8N2", "Item Type": "preprint", "Publication Year": "2023",
                "Author": "Vaswani, Ashish; Shazeer, Noam; Parmar, Niki",
                "Title": "Attention Is All You Need",
                "DOI": "10.48550/arXiv.1706.03762", "Url": "http://arxiv.org/abs/1706.03762",
                "Abstract Note": "The dominant sequence transduction models\nare based on complex networks.",
                "Date": "2023-08-02", "Date Added": "2024-01-15 10:20:30", "Publisher": "arXiv",
                "Extra": "arXiv:1706.03762 [cs]", "Manual Tags": "transformers",
            },
            {
                "Key": "AB12CD34", "Item Type": "journalArticle", "Publication Year": "2019",
                "Author": "Müller, Jörg; Østergaard, Søren; OpenAI",
                "Title": "Über die Schrödinger-Gleichung",
                "Publication Title": "Zeitschrift für Physik", "DOI": "10.1000/XYZ_123", "Date": "March 2019",
            },
            {"Key": "NOTITLE1", "Item Type": "journalArticle", "Publication Year": "2020"},
            {"Key": "YEARONLY", "Item Type": "book", "Publication Year": "1999",
             "Title": "A Book, With Commas"},
        ]
    )  # fmt: skip
    text += '"BAD00001","journalArticle","2020","Nobody","Too few fields"\r\n'
    path = write(tmp_path, "Exported Items.csv", text)
    items = list(read_csv(path))
    assert [type(x).__name__ for x in items] == ["Paper", "Paper", "RecordError", "Paper", "RecordError"]
    arxiv, doi_only, no_title, book, short = items

    assert arxiv.id == "1706.03762"
    assert arxiv.authors == ["Ashish Vaswani", "Noam Shazeer", "Niki Parmar"]
    assert arxiv.abstract == "The dominant sequence transduction models are based on complex networks."
    assert arxiv.published == date(2023, 8, 2)
    assert arxiv.sources == ["csv"]

    assert doi_only.id == "doi:10.1000/xyz_123"
    assert doi_only.title == "Über die Schrödinger-Gleichung"
    assert doi_only.authors == ["Jörg Müller", "Søren Østergaard", "OpenAI"]
    assert doi_only.published == date(2019, 3, 1)
    assert doi_only.comment == "Zeitschrift für Physik"

    # Line numbers are physical lines: the first record's abstract spans two lines.
    assert (no_title.location.line, no_title.message) == (5, "row has an empty title")
    assert book.title == "A Book, With Commas" and book.published == date(1999, 1, 1)
    assert short.location.line == 7
    assert short.message == "row has 5 fields but the header has 42"


def test_simple_csv_form(tmp_path):
    text = (
        "id,title,abstract,authors,categories,date\n"
        'arXiv:2303.08774v3,GPT-4 Technical Report,"We report GPT-4, a large multimodal model.",'
        "OpenAI; Josh Achiam,cs.CL; cs.AI,2023-03-15\n"
        "10.1145/3442188.3445922,On the Dangers of Stochastic Parrots,,Emily M. Bender;Timnit Gebru,,2021\n"
        ",No Id At All,Abstract here,,,\n"
        '2401.00001,"Unclosed quote, title,abstract,a,b,2024-01-01\n'
        "2401.00002,Swallowed by the quote,x,y,z,2024-01-02\n"
    )
    items = list(read_csv(write(tmp_path, "simple.csv", text)))
    papers, errors = split(items)

    assert [p.id for p in papers[:2]] == ["2303.08774", "doi:10.1145/3442188.3445922"]
    gpt4, parrots, no_id = papers
    assert gpt4.title == "GPT-4 Technical Report"
    assert gpt4.abstract == "We report GPT-4, a large multimodal model."
    assert gpt4.authors == ["OpenAI", "Josh Achiam"]
    assert gpt4.categories == ["cs.CL", "cs.AI"]
    assert gpt4.published == date(2023, 3, 15)
    assert parrots.authors == ["Emily M. Bender", "Timnit Gebru"]
    assert parrots.published == date(2021, 1, 1)
    assert no_id.id.startswith("t:") and no_id.abstract == "Abstract here"

    (err,) = errors
    assert err.location.line == 5
    assert "a quote that is not closed?" in err.message and "runs to line 6" in err.message


def test_semicolon_csv_and_missing_title_column(tmp_path):
    (paper,) = read_csv(write(tmp_path, "semi.csv", "title;abstract;date\nA; B;2020-05-06\n"))
    assert (paper.title, paper.abstract, paper.published) == ("A", "B", date(2020, 5, 6))
    path = write(tmp_path, "notitle.csv", "name,score\nx,1\n")
    with pytest.raises(IngestError, match=r"CSV has no 'title' column \(columns: 'name', 'score'\)") as exc:
        read_csv(path)
    assert exc.value.location is not None and exc.value.location.line == 1


def test_latin1_csv_is_read_when_safe(tmp_path):
    path = write(tmp_path, "excel.csv", 'title,authors\nCafé crème,"Müller, Jörg"\n', encoding="cp1252")
    (paper,) = read_csv(path)
    assert (paper.title, paper.authors) == ("Café crème", ["Jörg Müller"])


# --------------------------------------------------------------------------- RIS

ZOTERO_RIS = """Provider: Zotero
Content: text/plain; charset="UTF-8"

TY  - PREPRINT
TI  - Attention Is All You Need
AU  - Vaswani, Ashish
AU  - Shazeer, Noam
AB  - The dominant sequence transduction models are based on complex
  recurrent or convolutional neural networks.
DO  - 10.48550/arXiv.1706.03762
UR  - http://arxiv.org/abs/1706.03762
Y2  - 2024/01/15/10:20:30
PY  - 2017
DA  - 2017/06/12/
PB  - arXiv
N1  - arXiv:1706.03762 [cs]
KW  - Computer Science - Computation and Language
ER  -

TY  - JOUR
T1  - Über die Schrödinger-Gleichung
A1  - Müller, Jörg
A1  - King, Martin Luther, Jr.
N2  - Eine Studie.
Y1  - 2019///
DO  - https://doi.org/10.1000/XYZ_123
JO  - Zeitschrift für Physik
ER  -

TY  - JOUR
AU  - Nobody, N.
PY  - 2020
ER  -

TY  - JOUR
TI  - Record whose ER line is missing
AU  - Lost, Ann

TY  - CONF
TI  - Last one
PY  - 2021
DA  - 2021/05/03/
ER  -
""".replace("ER  -\n", "ER  - \n")  # Zotero ends records with "ER  - " (trailing space)


def test_zotero_ris_export(tmp_path):
    path = write(tmp_path, "lib.ris", ZOTERO_RIS.replace("\n", "\r\n"))
    items = list(read_ris(path))
    assert [type(x).__name__ for x in items] == ["Paper", "Paper", "RecordError", "RecordError", "Paper"]
    arxiv, doi_only, no_title, unterminated, last = items

    assert arxiv.id == "1706.03762"
    assert arxiv.title == "Attention Is All You Need"
    assert arxiv.authors == ["Ashish Vaswani", "Noam Shazeer"]
    assert arxiv.abstract == (
        "The dominant sequence transduction models are based on complex recurrent or convolutional "
        "neural networks."
    )
    assert arxiv.published == date(2017, 6, 12)  # DA wins over PY
    assert arxiv.sources == ["ris"]

    assert doi_only.id == "doi:10.1000/xyz_123"
    assert doi_only.title == "Über die Schrödinger-Gleichung"
    assert doi_only.authors == ["Jörg Müller", "Martin Luther King Jr."]
    assert doi_only.abstract == "Eine Studie."
    assert doi_only.published == date(2019, 1, 1)
    assert doi_only.comment == "Zeitschrift für Physik"

    assert (no_title.location.line, no_title.message) == (30, "RIS record has no title (TI or T1)")
    assert unterminated.location.line == 35
    assert "not terminated by 'ER  - '" in unterminated.message
    assert (last.title, last.published) == ("Last one", date(2021, 5, 3))


def test_ris_truncated_and_stray_tags(tmp_path):
    text = "TI  - Tag before any TY\nER  - \n\nTY  - JOUR\nTI  - Fine\nER  -\n\nTY  - JOUR\nTI  - Cut off"
    items = list(read_ris(write(tmp_path, "cut.ris", text)))
    assert [(type(x).__name__, getattr(x, "title", None) or x.location.line) for x in items] == [
        ("RecordError", 1),
        ("Paper", "Fine"),
        ("RecordError", 8),
    ]
    assert "file truncated?" in items[2].message
    with pytest.raises(IngestError, match="no RIS record found"):
        read_ris(write(tmp_path, "none.ris", "Provider: nobody\n\nnothing here\n"))


# --------------------------------------------------------------------------- unreadable files, every reader

READERS = [read_bibtex, read_csv, read_ris]
GARBAGE = random.Random(7).randbytes(4096)


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file (0 bytes)"),
        (b"\xef\xbb\xbf\r\n  \r\n", "empty file"),
        (GARBAGE, "binary file, not text (NUL byte at offset"),
        (GARBAGE.replace(b"\x00", b"\x01"), "not valid UTF-8: byte 0x"),
        (b"TY  - JOUR\nTI  - Caf\xc3\xa9 and Fa\xe7ade\nER  - \n", "byte 0xE7 at offset 29 (line 2)"),
    ],
)
def test_unreadable_library_file_is_one_clear_ingest_error(tmp_path, reader, content, message):
    path = tmp_path / "library.dat"
    path.write_bytes(content)
    with pytest.raises(IngestError) as exc:
        reader(path)
    assert message in exc.value.message
    assert exc.value.location is not None and exc.value.location.source == str(path)


@pytest.mark.parametrize("reader", READERS)
def test_missing_library_file(tmp_path, reader):
    with pytest.raises(IngestError, match="file not found"):
        reader(tmp_path / "missing.bib")


# --------------------------------------------------------------------------- shared helpers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2017-12-05", date(2017, 12, 5)),
        ("2017-12-05T10:00:00Z", date(2017, 12, 5)),
        ("2017/12/05/", date(2017, 12, 5)),
        ("2017///", date(2017, 1, 1)),
        ("2017-12", date(2017, 12, 1)),
        ("2017", date(2017, 1, 1)),
        ("December 2017", date(2017, 12, 1)),
        ("Dec 5, 2017", date(2017, 12, 5)),
        ("5 Sept. 2017", date(2017, 9, 5)),
        ("05/12/2017", date(2017, 1, 1)),  # day/month order unknown: year only
        ("2017-02-30", date(2017, 2, 1)),
        ("n.d.", None),
        ("", None),
    ],
)
def test_parse_loose_date(text, expected):
    assert parse_loose_date(text) == expected


def test_names_latex_and_arxiv_helpers():
    assert flip_name("Vaswani, Ashish") == "Ashish Vaswani"
    assert flip_name("King, Jr., Martin Luther") == "Martin Luther King Jr."
    assert flip_name("King, Martin Luther, Jr.") == "Martin Luther King Jr."
    assert flip_name("OpenAI") == "OpenAI"
    assert latex_to_text(r"{\"O}zt{\"u}rk~Ay{\c{s}}e -- 50% \& {\textless}b{\textgreater} \LaTeX") == (
        "Öztürk Ayşe – 50% & <b> LaTeX"
    )
    assert find_arxiv_id(eprint="2103.01234", eprint_type="arXiv") == "2103.01234"
    assert find_arxiv_id(eprint="12345678", eprint_type="pubmed") is None
    assert find_arxiv_id(urls=["https://arxiv.org/pdf/2103.01234v2.pdf"]) == "2103.01234"
    assert find_arxiv_id(doi="10.48550/ARXIV.2103.01234") == "2103.01234"
    assert find_arxiv_id(notes=["arXiv preprint arXiv:hep-th/9901001"]) == "hep-th/9901001"
    assert find_arxiv_id(notes=["pages 1234.5678"], urls=["https://example.org/1234.56789"]) is None
