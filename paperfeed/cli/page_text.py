"""Write a list of papers in the saved-page text form that `paperfeed.ingestion.pages` reads.

The output is byte-for-byte the form of the saved pages: the five header lines, then
(title, abstract) lines, every line separated by one blank line and no trailing newline
(the originals have none; the reader accepts one, so a caller may append it when writing a
POSIX text file).  Rendering the entries of a parsed page reproduces the page exactly.

The format has one line per field, so every field is collapsed to one line: runs of
whitespace (including newlines, CR, tabs, U+2028 and the like) and control characters become
one space.  That is the only change; markup such as `<script>` or LaTeX is written as given,
since the page is plain text and whoever displays it must escape it anyway.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from paperfeed.ingestion.pages import PAGE_HEADER, format_date_label

# C0/C1 controls and DEL are not text; NUL in particular would make the reader refuse the file.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def one_line(text: str) -> str:
    """`text` as one line: control characters and runs of whitespace become a single space."""
    return " ".join(_CONTROL.sub(" ", text).split())


def render_page(entries: Sequence[tuple[str, str]], today: date) -> str:
    """The page text for `entries` ((title, abstract), best first) dated `today` (shown as e.g. `Mar 14`).

    An empty abstract is written as an empty line (it reads back as ""); an empty title cannot be
    represented (the reader would take it for stray blank lines), so it raises ValueError rather
    than writing a page that reads back shifted.
    """
    lines = [*PAGE_HEADER, format_date_label(today)]
    for rank, (title, abstract) in enumerate(entries, start=1):
        t = one_line(title)
        if not t:
            raise ValueError(f"entry {rank} has an empty title; a page cannot represent it")
        lines.append(t)
        lines.append(one_line(abstract))
    return "\n\n".join(lines)
