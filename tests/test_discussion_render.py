"""Comment Markdown: the allow-list holds (tags, attributes, URL schemes), math becomes MathML, mentions parse."""

from __future__ import annotations

import re

import pytest

from paperfeed.discussion.render import ALLOWED_TAGS, mentions, render


def _tags(html: str) -> set[str]:
    return {t.lower() for t in re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)", html)}


MATH_TAGS = {"span", "math", "mrow", "mi", "mn", "mo", "msup", "msub", "msubsup", "mfrac", "msqrt", "mspace", "mtext",
             "munderover", "munder", "mover", "mstyle", "mtable", "mtr", "mtd", "mroot"}


def test_markdown_subset():
    html = str(render("Some *em* and **strong**, `code`, [a link](https://example.org/x)\n\n> quote\n\n- item\n"))
    assert "<em>em</em>" in html and "<strong>strong</strong>" in html and "<code>code</code>" in html
    assert '<a href="https://example.org/x" rel="nofollow noopener ugc">a link</a>' in html
    assert "<blockquote>" in html and "<li>item</li>" in html


@pytest.mark.parametrize("src", [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<b onmouseover=alert(1)>x</b>",
    "[x](javascript:alert(1))", "[x](JAVASCRIPT:alert(1))", "[x](  javascript:alert(1))",
    "[x](jav&#x09;ascript:alert(1))", "[x](data:text/html;base64,PHNjcmlwdD4=)", "[x](vbscript:msgbox(1))",
    "![x](javascript:alert(1))", "![x](http://tracker.example/pixel.png)", "<https://a.example/>\n<javascript:alert(1)>",
    '[x](http://a.example/ "onmouseover=alert(1)")', "# Heading <iframe src=//evil>",
    "$\\href{javascript:alert(1)}{x}$", "$\\text{<img src=x onerror=alert(1)>}$",
])
def test_hostile_markdown_stays_inert(src):
    html = str(render(src))
    assert _tags(html) <= ALLOWED_TAGS | MATH_TAGS, html
    for tag in re.findall(r"<[a-zA-Z][^>]*>", html):  # attributes of real tags (text may say "onerror=")
        assert not re.search(r"\son\w+\s*=", tag, re.I), html
        assert "style=" not in tag, html
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert all(h.startswith(("http://", "https://", "mailto:")) for h in hrefs), html
    assert "<img" not in html and "<script" not in html and "<iframe" not in html


def test_math_is_mathml_and_not_emphasis():
    html = str(render("Let $a_1 * b_2$ hold and $$\\frac{x}{y}$$ too; `$not math$`"))
    assert html.count("<math") == 2 and "<mfrac>" in html and "<em>" not in html
    assert "<code>$not math$</code>" in html


def test_placeholder_cannot_be_forged():
    html = str(render("pfmath0000000000000000n0x and $x$"))
    assert "pfmath0000000000000000n0x" in html and html.count("<math") == 1


def test_mentions():
    assert mentions("hi @alice and @Bob_2, mail a@b.org, `@code`, @alice again") == ["alice", "bob_2"]
