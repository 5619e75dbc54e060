"""The shared presentation code (paperfeed/present/): LaTeX to HTML and to text, snippets, code links.

The HTML must be assembled from escaped parts only, whatever the input: every tag in the output is one the
renderer writes itself (checked with an HTML parser over hostile input, including input aimed at latex2mathml,
which passes `\\text{<b>}` through as markup), and every link is http(s)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from conftest import HOSTILE

from paperfeed.present.latex import MATHML_TAGS, to_html, to_text
from paperfeed.present.links import code_links, linkify
from paperfeed.present.snippets import first_lines, passage_html

OWN_TAGS = {"em", "strong", "code", "sup", "sub", "u", "span", "a", "mark", *MATHML_TAGS}
HOSTILE_LATEX = [
    HOSTILE["title"], HOSTILE["abstract"], *HOSTILE["authors"],
    "$\\text{<img src=x onerror=alert(1)>}$", "$\\href{javascript:alert(1)}{x}$", "\\href{javascript:alert(2)}{x}",
    "\\url{javascript:alert(3)}", "\\href{https://x.org/\" onmouseover=\"alert(4)}{y}", "$<script>alert(5)</script>$",
    "\\emph{<b>x</b>}", "\\textbf{\"><svg onload=alert(6)>}", "$\\mathrm{<iframe>}$", "$\\style{color:red}{x}$",
    "{" * 500 + "deep" + "}" * 500, "$" * 101, "\\" * 51, "$\\frac{a$", "\\unicode{x0}\\unicode{xD800}\\unicode{zz}",
    "$\\color{red}{x}\\mathbb{R}^{<}$", "\\'{<}\\\"<", "$\\begin{array}{c}<\\end{array}$",
]


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self.tags.append((tag, attrs))


@pytest.mark.parametrize("src", HOSTILE_LATEX)
@pytest.mark.parametrize("math", ["mathml", "text"])
def test_hostile_latex_gives_only_the_renderers_own_tags(src, math):
    html = str(to_html(src, math=math))
    p = Tags()
    p.feed(html)
    for tag, attrs in p.tags:
        assert tag in OWN_TAGS, (tag, html)
        for k, v in attrs:
            assert not k.startswith("on") and k not in ("style", "src", "srcset"), (k, html)
            if k == "href":
                assert v and re.fullmatch(r"https?://[^\s\"'<>]+", v), (v, html)
    assert "<script" not in html and "<img" not in html and "<svg" not in html and "<b>" not in html


def test_latex_to_html_and_text():
    src = "Fast \\emph{sparse} $4\\times$ Schr\\\"odinger 50\\% ~ ``q'' --- \\textbf{b} \\method"
    html = str(to_html(src))
    assert "<em>sparse</em>" in html and "<mo>×</mo>" in html and "Schrödinger 50%" in html
    assert "“q” — <strong>b</strong> \\method" in html
    assert to_text(src) == "Fast sparse 4× Schrödinger 50% \u00a0 “q” — b \\method"
    assert to_text("$O(n^2)$ and $\\alpha$-div, $x \\in \\mathbb{R}^d$") == "O(n²) and α-div, x ∈ R^d"
    assert to_text("unclosed $ dollar {") == "unclosed $ dollar {"
    assert str(to_html("a & b <c>")) == "a &amp; b &lt;c&gt;"


def test_snippets_never_cut_inside_math_or_braces():
    text = "word " * 40 + "$a + b + c + d + e + f + g + h + i + j$ " + "\\emph{several words inside emphasis} " * 5
    for chars in range(150, 330, 7):
        piece, _cut = first_lines(text, chars)
        assert piece.count("$") % 2 == 0 and piece.count("{") == piece.count("}"), (chars, piece[-60:])
    pattern = re.compile(r"(?<!\w)(?:emphasis)\w*", re.I)
    html = str(passage_html(text, pattern))
    assert html.startswith("… ") and "<mark>emphasis</mark>" in html


def test_code_links_and_linkify():
    comment = "ICLR. Code: \\url{https://github.com/a/b}. Page: https://a.github.io/b/. javascript:alert(1) <b>"
    assert code_links(comment) == ["https://github.com/a/b"]
    html = str(linkify(comment))
    assert '<a href="https://github.com/a/b" rel="nofollow noopener">' in html
    assert '<a href="https://a.github.io/b/" rel="nofollow noopener">' in html and "&lt;b&gt;" in html
    assert 'href="javascript' not in html
