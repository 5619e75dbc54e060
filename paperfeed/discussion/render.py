"""A comment's Markdown as safe HTML: CommonMark by markdown-it-py with raw HTML off, then the ammonia
sanitiser (nh3) with a strict allow-list of tags, attributes and URL schemes, then LaTeX math.

Why two layers: markdown-it with `html=False` already escapes every `<` a writer types and refuses
`javascript:`/`vbscript:`/`data:` link targets (its `validateLink`), but an allow-list sanitiser after it is
what guarantees the output contains nothing but the tags below, whatever a future markdown-it option or
plugin emits.  Images are not allowed at all (a remote image in a comment is a tracking pixel for every
reader).  Links get `rel="nofollow noopener ugc"`: written by visitors, not vouched for by the site.

Math: `$…$` and `$$…$$` outside code are cut out before Markdown sees them (so `_` and `*` inside a formula
are not emphasis), replaced by a random per-call placeholder a writer cannot guess, and put back after
sanitising as the MathML of `paperfeed/present/latex.py`, which rebuilds MathML from its own allow-list
(nh3 does not know MathML, so it must come after).
"""

from __future__ import annotations

import re
import secrets
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

from paperfeed.present.latex import to_html, to_text

ALLOWED_TAGS = {"p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr", "del"}
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {"a": {"href", "title"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}
MAX_BODY = 10_000  # characters a comment may have (the form and the API say so before this is reached)

# Code spans/blocks are kept as they are; math is `$$…$$` or `$…$` (not empty, no newline in inline math).
_PIECES = re.compile(r"(?P<code>```[\s\S]*?```|(?P<ticks>`+)[\s\S]*?(?P=ticks))"
                     r"|(?P<block>\$\$(?P<bsrc>[^$]{1,2000}?)\$\$)|(?P<inline>(?<![\\$])\$(?P<isrc>[^$\n]{1,500}?)\$)")
MENTION = re.compile(r"(?<![\w@/])@([A-Za-z0-9][A-Za-z0-9_-]{1,39})\b")


@lru_cache(maxsize=1)
def _md() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.disable("image")
    return md


@lru_cache(maxsize=1)
def _cleaner() -> nh3.Cleaner:
    # Relative URLs are dropped too: `jav%09ascript:` is one, and a comment has no business linking into the site
    # by path; every link a writer makes is absolute http(s) or mailto.
    return nh3.Cleaner(tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES,
                       link_rel="nofollow noopener ugc", strip_comments=True, url_relative="deny")


def _sanitise(html: str) -> str:
    return _cleaner().clean(html)


def render(body: str) -> Markup:
    """The comment as HTML that is safe to put in a page as it is."""
    nonce = secrets.token_hex(8)
    maths: list[str] = []

    def cut(m: re.Match[str]) -> str:
        if m.group("code"):
            return m.group(0)
        src = m.group("bsrc") if m.group("block") else m.group("isrc")
        maths.append(f"$${src}$$" if m.group("block") else f"${src}$")
        return f"pfmath{nonce}n{len(maths) - 1}x"

    text = _PIECES.sub(cut, body[:MAX_BODY])
    html = _sanitise(_md().render(text))
    if maths:
        html = re.sub(f"pfmath{nonce}n(\\d+)x", lambda m: str(to_html(maths[int(m.group(1))])), html)
    return Markup(html)


def plain(body: str) -> str:
    """The comment as plain text (email, feeds' titles): Markdown left as typed, math as Unicode."""
    return to_text(body[:MAX_BODY])


def mentions(body: str) -> list[str]:
    """The handles a comment mentions (`@handle`, outside code), each once, in order."""
    text = _PIECES.sub(lambda m: " " if m.group("code") else m.group(0), body[:MAX_BODY])
    seen: dict[str, None] = {}
    for h in MENTION.findall(text):
        seen.setdefault(h.lower(), None)
    return list(seen)
