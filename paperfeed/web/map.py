"""The map of the papers (`/papers/map`): the derived map file (recommend/map_file.py) drawn as SVG on the
server, so it needs no script, no canvas and no CDN; static/map.js only echoes the hovered title.

The browser gets a sample of `MAX_POINTS` (2,000) points, not all 74,728: as inline SVG with titles that is
~0.4 MB of HTML, and more points only darken the islands.  The sample is a fixed random subset (seed 0, so
it is proportional to the clusters' sizes and the same on every load of one map file).  A member's liked
(upvoted), saved (collections) and recommended (`FeedService.for_member`) papers are drawn on top, from
the whole map, so they appear even when they are not in the sample; anonymous visitors see no marks.
The part everyone sees is rendered once per map file (`StoredMap.version`) and kept in memory.

`/papers/map.json` gives the same sample as data, versioned by the map file: with `?v=<version>` it is
cacheable for a year (a new map file has a new version, and the page links the current one).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Annotated, Any
from weakref import WeakKeyDictionary

import numpy as np
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool

from paperfeed.recommend.map_file import MapFile, StoredMap
from paperfeed.recommend.service import FeedService
from paperfeed.store import signals as signals_sql
from paperfeed.urls import paper_path
from paperfeed.web.context import WebState, current_user, render, web

router = APIRouter()

MAX_POINTS = 2000
SIZE, MARGIN = 1000, 40
COLOURS = 10  # cluster colour classes c0..c9 in static/map.css
MARK_KINDS = {"liked": "Liked (upvoted)", "saved": "Saved in a collection", "recommended": "Recommended for you"}
NO_STORE = {"Cache-Control": "no-store"}

_maps: WeakKeyDictionary[WebState, MapFile] = WeakKeyDictionary()
_feeds: WeakKeyDictionary[WebState, FeedService] = WeakKeyDictionary()
_lock = threading.Lock()


def map_file(w: WebState) -> MapFile:
    """The site's map file (one per app; rebuilt in the background, never inside a request)."""
    with _lock:
        mf = _maps.get(w)
        if mf is None:
            mf = _maps[w] = MapFile(w.pf.index_dir, background=True)
        return mf


def feed_service(w: WebState) -> FeedService:
    """One `FeedService` per app: its corpus cache is the expensive part (shared by map and onboarding)."""
    with _lock:
        fs = _feeds.get(w)
        if fs is None:
            fs = _feeds[w] = FeedService(w.pf.store)
        return fs


def _xy(sm: StoredMap, row: int) -> tuple[float, float]:
    x, y = sm.map.xy[row]
    return MARGIN + float(x) * (SIZE - 2 * MARGIN), MARGIN + (1.0 - float(y)) * (SIZE - 2 * MARGIN)


def sample_rows(sm: StoredMap) -> np.ndarray:
    n = len(sm.map.ids)
    if n <= MAX_POINTS:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).permutation(n)[:MAX_POINTS])


@dataclass
class Cluster:
    k: int
    label: str
    size: int
    x: float
    y: float


def clusters(sm: StoredMap) -> list[Cluster]:
    sizes = np.bincount(sm.map.cluster, minlength=len(sm.map.labels))
    out = []
    for k, label in enumerate(sm.map.labels):
        cx, cy = sm.map.centres[k]
        out.append(Cluster(k, label or f"cluster {k + 1}", int(sizes[k]), MARGIN + float(cx) * (SIZE - 2 * MARGIN),
                           MARGIN + (1.0 - float(cy)) * (SIZE - 2 * MARGIN)))
    return sorted(out, key=lambda c: -c.size)


def titles_of(w: WebState, sm: StoredMap, rows: np.ndarray) -> dict[int, str]:
    got = w.pf.store.get_many([int(sm.pks[r]) for r in rows])
    return {int(r): got[int(sm.pks[r])].title if int(sm.pks[r]) in got else sm.map.ids[r] for r in rows}


_base_cache: dict[str, tuple[Markup, list[dict[str, Any]]]] = {}


def base_layer(w: WebState, sm: StoredMap) -> tuple[Markup, list[dict[str, Any]]]:
    """The SVG of the sampled points and the cluster labels, and the same points as data (cached per file)."""
    hit = _base_cache.get(sm.version)
    if hit is not None:
        return hit
    rows = sample_rows(sm)
    titles = titles_of(w, sm, rows)
    parts, points = ['<g class="points">'], []
    for r in rows:
        x, y = _xy(sm, int(r))
        pid, c = sm.map.ids[r], int(sm.map.cluster[r])
        parts.append(f'<a class="pt" href="{escape(paper_path(pid))}"><circle cx="{x:.1f}" cy="{y:.1f}" r="4" '
                     f'class="c{c % COLOURS}"><title>{escape(titles[int(r)])}</title></circle></a>')
        points.append({"id": pid, "x": round(float(sm.map.xy[r][0]), 4), "y": round(float(sm.map.xy[r][1]), 4),
                       "cluster": c, "title": titles[int(r)]})
    parts.append('</g><g class="labels" aria-hidden="true">')
    for cl in clusters(sm):
        # near an edge the label grows inwards, so it is never cut off by the map's border
        anchor = "start" if cl.x < 0.3 * SIZE else "end" if cl.x > 0.7 * SIZE else "middle"
        x = max(cl.x - 20, 8.0) if anchor == "start" else min(cl.x + 20, SIZE - 8.0) if anchor == "end" else cl.x
        first = ", ".join(cl.label.split(", ")[:2])  # two words fit on the map; the list has all three
        parts.append(f'<text x="{x:.1f}" y="{cl.y:.1f}" text-anchor="{anchor}" class="label">{escape(first)}</text>')
    parts.append("</g>")
    out = (Markup("".join(parts)), points)
    _base_cache.clear()  # one map file at a time
    _base_cache[sm.version] = out
    return out


def member_marks(w: WebState, sm: StoredMap, user_id: int) -> tuple[Markup, dict[str, int], int]:
    """The member's papers on the map (SVG), how many of each kind are shown, and how many are not on it."""
    raw = signals_sql.raw_signals(w.pf.store, user_id)
    kinds: dict[str, list[str]] = {"liked": [], "saved": [], "recommended": []}
    for pid, kind, _ in raw.liked:
        kinds["liked" if kind == "upvoted" else "saved"].append(pid)
    kinds["recommended"] = [p.paper_id for p in feed_service(w).for_member(user_id, 50)]
    rows = {kind: [r for r in (sm.row(p) for p in ids) if r is not None] for kind, ids in kinds.items()}
    missing = sum(len(ids) for ids in kinds.values()) - sum(len(r) for r in rows.values())
    titles = titles_of(w, sm, np.array(sorted({r for rs in rows.values() for r in rs}), dtype=np.int64))
    parts = ['<g class="marks">']
    for kind in ("recommended", "saved", "liked"):  # liked on top
        for r in rows[kind]:
            x, y = _xy(sm, r)
            shape = (f'<rect x="{x - 7:.1f}" y="{y - 7:.1f}" width="14" height="14"' if kind == "saved"
                     else f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{9 if kind == "recommended" else 7}"')
            parts.append(f'<a class="mark {kind}" href="{escape(paper_path(sm.map.ids[r]))}">{shape} '
                         f'class="{kind}"><title>{escape(MARK_KINDS[kind])}: {escape(titles[r])}</title>'
                         f'</{"rect" if kind == "saved" else "circle"}></a>')
    parts.append("</g>")
    return Markup("".join(parts)), {k: len(v) for k, v in rows.items()}, missing


def unavailable_message(state: str, mf: MapFile) -> str:
    if state == "too-few":
        return "The map appears once at least 3 papers have embeddings (`paperfeed index` computes them)."
    if mf.last_error:
        return "Building the map failed; the operator's log says why. It is tried again on the next visit."
    return "The map is being built from the papers' embeddings; reload this page in a minute."


@router.get("/papers/map", response_class=HTMLResponse, include_in_schema=False)
async def map_page(request: Request) -> Response:
    w, user = web(request), current_user(request)
    mf = map_file(w)
    sm, state = await run_in_threadpool(mf.get, w.pf.store)
    if sm is None:
        page = render(request, "map.html", title="Map of the papers · paperfeed", sm=None,
                      message=unavailable_message(state, mf))
        page.headers.update(NO_STORE)
        return page

    def build() -> dict[str, Any]:
        base, _ = base_layer(w, sm)
        marks, counts, missing = member_marks(w, sm, user.id) if user else (Markup(""), {}, 0)
        return {"base": base, "marks": marks, "counts": counts, "missing": missing}

    parts = await run_in_threadpool(build)
    page = render(request, "map.html", title="Map of the papers · paperfeed", sm=sm, state=state,
                  clusters=clusters(sm), size=SIZE, shown=min(MAX_POINTS, len(sm.map.ids)),
                  total=len(sm.map.ids), kinds=MARK_KINDS, **parts)
    if user:
        page.headers.update(NO_STORE)
    return page


@router.get("/papers/map.json", include_in_schema=False)
async def map_points(request: Request, v: Annotated[str | None, Query(max_length=100)] = None) -> Response:
    """The sampled points, cluster labels and centres (no personal data: the same for everyone)."""
    w = web(request)
    mf = map_file(w)
    sm, state = await run_in_threadpool(mf.get, w.pf.store)
    if sm is None:
        return JSONResponse({"available": False, "state": state, "message": unavailable_message(state, mf),
                             "points": [], "clusters": []}, headers={"Cache-Control": "no-cache"})
    _, points = await run_in_threadpool(base_layer, w, sm)
    body = {"available": True, "state": state, "version": sm.version, "papers": len(sm.map.ids),
            "points": points,
            "clusters": [{"cluster": c.k, "label": c.label, "size": c.size,
                          "x": round(float(sm.map.centres[c.k][0]), 4), "y": round(float(sm.map.centres[c.k][1]), 4),
                          "url": f"/papers/map/cluster/{c.k}"} for c in clusters(sm)]}
    cache = "public, max-age=31536000, immutable" if v == sm.version else "no-cache"
    return JSONResponse(body, headers={"Cache-Control": cache})


def region(w: WebState, k: int) -> tuple[StoredMap | None, Cluster | None, list[str]]:
    """A cluster of the current map and its most central paper ids (None when there is no map or no such cluster)."""
    sm, _ = map_file(w).get(w.pf.store)
    if sm is None or not 0 <= k < len(sm.map.labels):
        return sm, None, []
    return sm, next(c for c in clusters(sm) if c.k == k), sm.central[k]


@router.get("/papers/map/cluster/{k}", response_class=HTMLResponse, include_in_schema=False)
def cluster_page(request: Request, k: Annotated[int, Path(ge=0, le=10_000)]) -> Response:
    w = web(request)
    sm, cl, ids = region(w, k)
    if sm is None:
        return render(request, "map.html", title="Map of the papers · paperfeed", sm=None,
                      message=unavailable_message(map_file(w).state(w.pf.store)[0], map_file(w)))
    if cl is None:
        return render(request, "error.html", status_code=404, heading="Not found",
                      message=f"The map has no cluster {k}; it has {len(sm.map.labels)} (numbered from 0).",
                      title="Not found · paperfeed")
    items = [(pk, p) for pk, p in ((w.pf.store.pk_of(i), w.pf.store.get(i)) for i in ids)
             if pk is not None and p is not None]
    user = current_user(request)
    return render(request, "map_cluster.html", title=f"{cl.label} · map · paperfeed", cluster=cl,
                  entries=w.entries(items, user), back=f"/papers/map/cluster/{k}")
