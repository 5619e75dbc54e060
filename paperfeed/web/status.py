"""Status: counts, index freshness and the background embedder's progress, as a page and as JSON.

Everything is read from the store and from files the embedder writes (see
`paperfeed.search.background`), so every web worker process shows the same thing.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from paperfeed.core import Paperfeed
from paperfeed.search.background import read_progress
from paperfeed.search.derived import IndexUnavailable
from paperfeed.web.context import render, web

log = logging.getLogger(__name__)

router = APIRouter()


class EmbedderOut(BaseModel):
    enabled: bool  # background embedding configured for this server
    running: bool  # an embedder process is alive
    state: str | None  # embedding | idle | waiting | stopped | failed | None (never ran)
    rate: float | None  # papers per second over the current pass
    eta_seconds: float | None  # until every paper is embedded, at that rate
    updated: float | None  # unix time of its last report


class IndexHealthOut(BaseModel):
    index: str  # "keyword" | "vector"
    state: str  # ok | rebuilding | failed | interrupted (its rebuilder died; the next request restarts it)
    reason: str | None  # what was wrong, as the index library reported it
    detected: float | None  # unix time the problem was found
    finished: float | None  # unix time the rebuilt index was swapped in
    moved_to: str | None  # where the broken files were kept
    done: int | None  # rebuild progress
    total: int | None


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
    semantic_search: str  # complete | partial (ranked by keywords until every paper is embedded) | rebuilding
    indexes: list[IndexHealthOut]  # an index that needed healing since it was built, and how that went


def _alive(pid: object) -> bool:
    try:
        os.kill(int(pid), 0)  # type: ignore[arg-type]
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:
        return True
    return True


def index_health(pf: Paperfeed) -> list[dict[str, Any]]:
    """The healing record of each index that ever needed one (see paperfeed/search/derived.py)."""
    out = []
    for name, idx in (("keyword", pf.engine.lexical), ("vector", pf.engine.semantic)):
        h = idx.health()
        if not h.get("state"):
            continue
        state = h["state"]
        if state == "rebuilding" and not idx.rebuilding() and not _alive(h.get("pid")):
            state = "interrupted"
        out.append({"index": name, "state": state, "reason": h.get("reason"), "detected": h.get("detected"),
                    "finished": h.get("finished"), "moved_to": h.get("moved_to"), "done": h.get("done"),
                    "total": h.get("total")})
    return out


def index_unavailable(request: Request, exc: IndexUnavailable) -> Response:
    """503 with Retry-After while an index is rebuilt: JSON for machines, a page for people."""
    headers = {"Retry-After": str(exc.retry_after), "Cache-Control": "no-store"}
    if request.url.path.startswith(("/api/", "/feeds/")):
        return JSONResponse({"detail": str(exc)}, status_code=503, headers=headers)
    page = render(request, "error.html", status_code=503, heading="Search is being rebuilt",
                  message=f"The {exc.index.label} was missing or damaged and is being rebuilt from the store "
                          f"({_progress(exc.health)}). The daily lists and paper pages still work; "
                          "please try this search again in a minute.",
                  title="Rebuilding · paperfeed")
    page.headers.update(headers)
    return page


DB_RETRY_AFTER = 5  # seconds: a restarting PostgreSQL is usually back within that; a pool frees up sooner
_DB_DOWN_PAGE = ("<!doctype html><html lang=en><meta charset=utf-8><title>Unavailable · paperfeed</title>"
                 "<h1>The site's database is not answering</h1><p>This is temporary: please try again in a few "
                 "seconds.</p></html>")


def database_unavailable(request: Request, exc: Exception) -> Response:
    """503 + Retry-After when the database is down, unreachable or its connection pool is exhausted.  The page is
    fixed text, not a template: rendering the site's layout asks the database who is signed in."""
    from paperfeed.store.engine import describe

    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, describe(exc))
    headers = {"Retry-After": str(DB_RETRY_AFTER), "Cache-Control": "no-store"}
    if request.url.path.startswith(("/api/", "/feeds/")):
        return JSONResponse({"detail": "the database is unavailable; try again shortly"}, status_code=503,
                            headers=headers)
    return HTMLResponse(_DB_DOWN_PAGE, status_code=503, headers=headers)


def _progress(h: dict[str, Any]) -> str:
    done, total = h.get("done"), h.get("total")
    return f"{done} of {total} papers done" if total else "starting"


def status_facts(pf: Paperfeed) -> dict[str, Any]:
    """What /status and /api/status show."""
    pf.engine.check_indexes()  # a corrupt index is found (and its rebuild started) even before a search
    pf.engine.semantic.reload_if_stale(pf.store)  # count what the embedder saved, not an older copy
    s = pf.status()
    coverage = pf.engine.semantic_coverage() if not pf.engine.lexical.rebuilding() else None
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
        "semantic_search": coverage.semantic if coverage else "partial",
        "indexes": index_health(pf),
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
    when = {i["index"]: {k: time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(i[k])) if i[k] else None
                         for k in ("detected", "finished")} for i in d["indexes"]}
    return render(request, "status.html", d=d, e=e, eta=_duration(e["eta_seconds"]), ago=ago, when=when,
                  title="Status · paperfeed")


@router.get("/api/status", response_model=StatusOut, tags=["api"], summary="Counts, index freshness, embedding")
def api_status(request: Request) -> dict[str, Any]:
    return status_facts(web(request).pf)
