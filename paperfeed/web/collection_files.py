"""A collection as a file: `/collections/{id}.bib`, `.ris` (reference managers), `.atom`, `.rss` (feed readers).

Each answers under exactly the rule of the collection's page (`collections.visible_or_404`): private is
404 to everyone but its owner, a link collection needs its `?token=`, so a feed reader subscribes to the
share link's feed URL and a regenerated token ends that subscription too.  The text is made safe by the
writers it shares with the rest of the site: `present/export.py` (BibTeX escaping, RIS line folding) and
`web/feeds.render_feed` (XML escaping; RSS text HTML-escaped as well).
"""

from __future__ import annotations

import re
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from paperfeed.models import Paper
from paperfeed.present.export import papers_bibtex, papers_ris
from paperfeed.store import collections as coll
from paperfeed.web.collections import Token, visible_or_404
from paperfeed.web.context import web
from paperfeed.web.feeds import FEED_SIZE, MEDIA, render_feed

router = APIRouter(include_in_schema=False)

FILE_MEDIA = {"bib": "application/x-bibtex; charset=utf-8", "ris": "application/x-research-info-systems; charset=utf-8"}


def filename(c: coll.Collection, ext: str) -> str:
    """An ASCII file name from the collection's name (`Reading group` -> `reading-group.bib`)."""
    stem = re.sub(r"[^a-z0-9]+", "-", c.name.lower()).strip("-")[:60] or f"collection-{c.id}"
    return f"{stem}.{ext}"


def _papers(request: Request, c: coll.Collection) -> list[Paper]:
    store = web(request).pf.store
    pks = coll.items(store, c.id)
    found = store.get_many(pks)
    return [found[pk] for pk in pks if pk in found]


@router.get("/collections/{cid:int}.{fmt}")
def collection_file(request: Request, cid: int, fmt: Literal["bib", "ris", "atom", "rss"],
                    token: Token = None) -> Response:
    c = visible_or_404(request, cid, token)
    papers = _papers(request, c)
    private = {"Cache-Control": "no-store"} if c.visibility != "public" else {}
    if fmt in ("atom", "rss"):
        site = web(request).settings.site_url()
        query = f"?{request.url.query}" if request.url.query else ""
        body = render_feed(fmt, f"paperfeed collection: {c.name}", f"{site}{request.url.path}{query}",
                           f"{site}/", papers[:FEED_SIZE])
        return Response(body, media_type=MEDIA[fmt], headers=private)
    text = papers_bibtex(papers) if fmt == "bib" else papers_ris(papers)
    return Response(text, media_type=FILE_MEDIA[fmt],
                    headers={**private, "Content-Disposition": f'attachment; filename="{filename(c, fmt)}"'})
