"""URLs the site and the mailer both print: paper addresses and the outside links of a paper.

One module, so a paper's address in a digest email is byte for byte the one the site links to (the
mailer used to paste raw ids into its links: `doi:10.1000/a b` stayed unencoded), and so one rule decides
which outside links may become an `href` at all.

Outside links come from ingested records, which anyone can write: a `javascript:` or `data:` URL in
a BibTeX `url` or a JSON-lines `pdf` field would run in the site's origin when clicked.  Only absolute
http(s) URLs with a host pass `safe_link` (the arXiv and DOI links paperfeed builds are https); it is
applied at ingestion (the link is dropped, with a warning naming file and line) and again wherever a
link is printed (pages, API, feeds, emails), which also covers rows stored before the check existed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

MAX_LINK_CHARS = 2000
_UNSAFE = re.compile(r'[\x00-\x20\x7f-\x9f\\<>"]')  # controls, spaces, and what no real URL holds raw


def safe_link(url: object) -> str | None:
    """`url` when it is an absolute http(s) URL with a host and nothing that could break out; else None."""
    if not isinstance(url, str) or not url or len(url) > MAX_LINK_CHARS or _UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. an invalid IPv6 literal
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return url


def safe_links(links: Mapping[str, object]) -> dict[str, str]:
    """The links of a paper that may be printed as hrefs (see `safe_link`), others left out."""
    checked = {str(k): safe_link(v) for k, v in links.items()}
    return {k: v for k, v in checked.items() if v is not None}


def paper_path(paper_id: str) -> str:
    """Path of a paper's page; ids may hold `/` (old arXiv ids, DOIs), kept as path separators."""
    return "/papers/" + quote(paper_id, safe="/:")


def member_path(handle: str) -> str:
    """Path of a member's public profile page (`/members/ada`; handles are NFKC and lower-case already)."""
    return "/members/" + quote(handle, safe="")


def paper_url(base_url: str, paper_id: str) -> str:
    """Absolute address of a paper's page under the site's configured base URL (feeds, emails)."""
    return base_url.rstrip("/") + paper_path(paper_id)
