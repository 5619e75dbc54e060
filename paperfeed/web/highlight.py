"""Highlight a query's words in a title or abstract, safely.

The text is split around the matches found in the *raw* text, every piece is HTML-escaped,
and only then are the matches wrapped in `<mark>`: a match can never cut an entity in half
and nothing from the paper is ever emitted unescaped.  Words match at a word start and may
run on (`transformer` marks *transformers*), a rough stand-in for the index's stemming.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

from paperfeed.search.query import Query

_SUFFIXES = ("ing", "es", "ed", "s")


def _stem(word: str) -> str:
    w = word.lower()
    for s in _SUFFIXES:
        if len(w) > len(s) + 3 and w.endswith(s):
            return w[: -len(s)]
    return w


def terms_pattern(q: Query | None) -> re.Pattern[str] | None:
    """One regex for every positive word of the query (operators and filters left out)."""
    if q is None:
        return None
    words: set[str] = set()
    for c in q.positive:
        for w in re.findall(r"\w+", c.text):
            if len(w) >= 2:
                words.add(_stem(w))
    if not words:
        return None
    alts = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alts})\w*", re.IGNORECASE)


def highlight(text: str, pattern: re.Pattern[str] | None) -> Markup:
    if not text:
        return Markup("")
    if pattern is None:
        return escape(text)
    out: list[str] = []
    last = 0
    for m in pattern.finditer(text):
        out.append(str(escape(text[last : m.start()])))
        out.append(f"<mark>{escape(m.group(0))}</mark>")
        last = m.end()
    out.append(str(escape(text[last:])))
    return Markup("".join(out))

