"""An Atom or RSS feed per paper's discussion: its newest visible comments, as text (Markdown as typed, math as
Unicode, escaped for the format: web/feeds.py's `rss_html` / `xml_text`).  Hidden and deleted comments are not
in it at all, so a feed reader never learns who wrote them or what they said.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from feedgen.feed import FeedGenerator

from paperfeed.discussion import roles
from paperfeed.discussion.render import plain
from paperfeed.present.latex import to_text
from paperfeed.store import discussion as sql
from paperfeed.urls import paper_url
from paperfeed.web.comments import FEED_SIZE, find_paper
from paperfeed.web.context import web
from paperfeed.web.feeds import MEDIA, rss_html, xml_text

pages = APIRouter(include_in_schema=False)



@pages.get("/papers/{paper_id:path}/discussion.{fmt}")
def discussion_feed(request: Request, paper_id: str, fmt: Literal["rss", "atom"]) -> Response:
    """The newest comments of one paper's discussion (text only: Markdown as typed, math as Unicode)."""
    w = web(request)
    found = find_paper(w, paper_id)
    if found is None:
        raise HTTPException(404, f"no paper with id {paper_id[:100]!r}")
    pk, pid = found
    paper = w.pf.store.get(pid)
    site = w.settings.site_url()
    page = paper_url(site, pid)
    live = [c for c in sql.thread(w.pf.store, pk) if c.visible][-FEED_SIZE:][::-1]
    fg = FeedGenerator()
    self_url = f"{page}/discussion.{fmt}"
    title = xml_text(f"Discussion: {to_text(paper.title if paper else pid)}")
    fg.id(self_url)
    fg.title(title)
    fg.description(title)
    fg.link(href=self_url, rel="self")
    fg.link(href=page, rel="alternate")
    updated = max((c.edited_at or c.created_at for c in live), default=datetime(1970, 1, 1))
    fg.updated(updated.replace(tzinfo=UTC))
    rss = fmt == "rss"
    for c in live:
        fe = fg.add_entry(order="append")
        url = f"{page}#c-{c.id}"
        fe.id(url)
        fe.guid(url, permalink=True)
        handle = roles.handle_of(w.pf.store, c.user_id)
        text = plain(c.body)
        head = f"{handle}: {text[:80]}"
        fe.title(rss_html(head) if rss else xml_text(head))
        fe.link(href=url)
        if rss:
            fe.description(rss_html(text))
        else:
            fe.summary(xml_text(text), type="text")
        fe.author(name=xml_text(handle))
        fe.published(c.created_at.replace(tzinfo=UTC))
        fe.updated((c.edited_at or c.created_at).replace(tzinfo=UTC))
    return Response(fg.rss_str() if rss else fg.atom_str(), media_type=MEDIA[fmt])


