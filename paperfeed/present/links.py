"""Links found in an arXiv comment ("Code: https://github.com/…"), for the paper's page.

Only http(s) URLs are links (no `javascript:`, no `data:`); code hosts (GitHub, GitLab, Codeberg,
Hugging Face) are picked out as "Code" links, the way papers sites show a repository beside the paper.
A URL's trailing punctuation (`.`, `,`, `)` of the sentence around it) is not part of it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from markupsafe import Markup, escape

_URL = re.compile(r"https?://[^\s<>\"'`{}\\]+", re.IGNORECASE)
CODE_HOSTS = ("github.com", "gitlab.com", "codeberg.org", "huggingface.co")


def _trim(url: str) -> str:
    url = url.rstrip(".,;:!?")
    while url.endswith(")") and url.count("(") < url.count(")"):
        url = url[:-1]
    return url


def urls(text: str | None) -> list[str]:
    """Every http(s) URL in `text`, in order, once each (LaTeX `\\url{…}` braces are not part of it)."""
    if not text:
        return []
    return list(dict.fromkeys(_trim(m.group(0)) for m in _URL.finditer(text)))


def code_links(text: str | None) -> list[str]:
    """The URLs of `text` on a code host, e.g. `https://github.com/jdg900/MMR`."""
    out = []
    for u in urls(text):
        host = (urlsplit(u).hostname or "").lower()
        if host.removeprefix("www.") in CODE_HOSTS:  # not github.io: that is a project page, not code
            out.append(u)
    return out


def linkify(text: str | None) -> Markup:
    """`text` escaped, its http(s) URLs as links (a comment is plain text: `\\url{x}` shows as x)."""
    if not text:
        return Markup("")
    text = re.sub(r"\\url\s*\{([^{}]*)\}", r"\1", " ".join(text.split()))
    out: list[str] = []
    last = 0
    for m in _URL.finditer(text):
        url = _trim(m.group(0))
        end = m.start() + len(url)
        out.append(str(escape(text[last : m.start()])))
        out.append(f'<a href="{escape(url)}" rel="nofollow noopener">{escape(url)}</a>')
        last = end
    out.append(str(escape(text[last:])))
    return Markup("".join(out))
