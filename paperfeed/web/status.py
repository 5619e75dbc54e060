"""Status: counts, index freshness and the background embedder's progress, as a page and as JSON.

Everything is read from the store and from files the embedder writes (see
`paperfeed.search.background`), so every web worker process shows the same thing.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from paperfeed.core import Paperfeed
from paperfeed.search.background import read_progress
from paperfeed.web.context import render, web

router = APIRouter()


class EmbedderOut(BaseModel):
    enabled: bool  # background embedding configured for this server
    running: bool  # an embedder process is alive
    state: str | None  # embedding | idle | waiting | stopped | failed | None (never ran)
    rate: float | None  # papers per second over the current pass
    eta_seconds: float | None  # until every paper is embedded, at that rate
    updated: float | None  # unix time of its last report


class StatusOut(BaseModel):
    papers: int
    embedded: int
    embedded_percent: float
    vectors: int
    keyword_fresh: bool
    vectors_fresh: bool
    store_seq: int
    papers_seq: int
    keyword_seq: int
    vector_seq: int
    first_day: str | None
    last_day: str | None
    embedder: EmbedderOut


def status_facts(pf: Paperfeed) -> dict[str, Any]:
    """What /status and /api/status show."""
    pf.engine.semantic.reload_if_stale(pf.store)  # count what the embedder saved, not an older copy
    s = pf.status()
    prog = read_progress(pf.location)
    missing = max(s.papers - s.embedded, 0)
    running = bool(prog.get("running"))
    rate = prog.get("rate") if running and prog.get("state") == "embedding" else None
    eta = (0.0 if not missing else missing / rate) if rate else (0.0 if not missing else None)
    return {
        "papers": s.papers, "embedded": s.embedded,
        "embedded_percent": round(100.0 * s.embedded / s.papers, 1) if s.papers else 100.0,
        "vectors": s.vectors, "keyword_fresh": s.keyword_fresh, "vectors_fresh": s.vectors_fresh,
        "store_seq": s.store_seq, "papers_seq": s.papers_seq, "keyword_seq": s.keyword_seq,
        "vector_seq": s.vector_seq, "first_day": s.first_day, "last_day": s.last_day,
        "embedder": {"enabled": pf.settings.embed_in_background, "running": running, "state": prog.get("state"),
                     "rate": round(rate, 2) if rate else None,
                     "eta_seconds": round(eta, 1) if eta is not None else None,
                     "updated": prog.get("updated")},
    }


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s" if m else f"{s} s"


@router.get("/status", response_class=HTMLResponse, summary="Counts, index freshness, background embedding")
def status_page(request: Request) -> HTMLResponse:
    d = status_facts(web(request).pf)
    e = d["embedder"]
    ago = _duration(time.time() - e["updated"]) if e["updated"] else None
    return render(request, "status.html", d=d, e=e, eta=_duration(e["eta_seconds"]), ago=ago,
                  title="Status · paperfeed")


@router.get("/api/status", response_model=StatusOut, tags=["api"], summary="Counts, index freshness, embedding")
def api_status(request: Request) -> dict[str, Any]:
    return status_facts(web(request).pf)
