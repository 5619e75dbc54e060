"""What a card shows of an abstract: its first lines, or for a search hit the passage that matched.

Cuts are made in the LaTeX source, only at spaces outside math and braces, so a cut can never leave a
`$…$` or `\\emph{…}` half-open (which would then show as raw LaTeX); the piece is rendered afterwards by
`present.latex` with the query's words marked (`passage_html`).
"""

from __future__ import annotations

import re
from bisect import bisect_right

from markupsafe import Markup

from paperfeed.present.latex import to_html

FIRST_CHARS = 240
PASSAGE_CHARS = 260


def _safe_cuts(text: str) -> list[int]:
    """Indexes of spaces where the text may be cut: outside math, at brace depth 0."""
    cuts: list[int] = []
    depth, math, i, n = 0, False, 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "$":
            math = not math
            if text.startswith("$$", i):
                i += 1
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(0, depth - 1)
        elif ch.isspace() and depth == 0 and not math:
            cuts.append(i)
        i += 1
    return cuts


def _window(text: str, start: int, chars: int) -> tuple[str, bool, bool]:
    """The piece of `text` from about `start` of about `chars` characters, cut at safe spaces;
    with whether something was left out before and after it."""
    if len(text) <= chars:
        return text, False, False
    cuts = _safe_cuts(text)
    lo = 0
    if start > 0:
        k = bisect_right(cuts, start) - 1
        lo = cuts[k] + 1 if k >= 0 else 0
    end = lo + chars
    if end >= len(text):
        return text[lo:], lo > 0, False
    k = bisect_right(cuts, end) - 1
    hi = cuts[k] if k >= 0 and cuts[k] > lo else None
    if hi is None:  # no safe place: one long formula or group; show the rest whole
        return text[lo:], lo > 0, False
    return text[lo:hi].rstrip(",;:"), lo > 0, True


def first_lines(text: str, chars: int = FIRST_CHARS) -> tuple[str, bool]:
    """The start of an abstract and whether it was cut (the caller adds the ellipsis)."""
    piece, _before, after = _window(" ".join(text.split()), 0, chars)
    return piece, after


def best_start(text: str, pattern: re.Pattern[str] | None, chars: int) -> int:
    """Where the window of `chars` holding the most query words starts (0 when nothing matches)."""
    if pattern is None:
        return 0
    starts = [m.start() for m in pattern.finditer(text)]
    if not starts:
        return 0
    best, best_n = 0, -1
    for i, s in enumerate(starts):
        n = bisect_right(starts, s + chars - 20) - i
        if n > best_n:
            best, best_n = s, n
    return max(0, best - chars // 5)  # a little context before the first word


def passage_html(text: str, pattern: re.Pattern[str] | None, chars: int = PASSAGE_CHARS) -> Markup:
    """The matched passage of an abstract as safe HTML, query words in `<mark>`, `…` where text was left out."""
    from paperfeed.web.highlight import highlight

    text = " ".join(text.split())
    piece, before, after = _window(text, best_start(text, pattern, chars), chars)
    body = to_html(piece, hook=lambda chunk: highlight(chunk, pattern))
    return Markup("… " if before else "") + body + Markup(" …" if after else "")


def first_lines_html(text: str, chars: int = FIRST_CHARS) -> Markup:
    piece, cut = first_lines(text, chars)
    return to_html(piece) + Markup(" …" if cut else "")
