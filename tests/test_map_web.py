"""The map of the papers over real HTTP (uvicorn in a thread, SQLite, real MiniLM vectors): the page with and
without the map file, the JSON points, personal marks only for their member, and healing of a corrupt,
missing or stale map file (rebuilt in the background, never inside a request)."""

from __future__ import annotations

import json
import re

import httpx
import numpy as np
import pytest
from map_site import ROOMY, make_map_pf, member, wait_for
from shared_vectors import put_shared_embeddings

from paperfeed.recommend.map_file import MapFile, load
from paperfeed.store import collections as coll
from paperfeed.store import community
from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread

POINT = re.compile(r'<a class="pt" href="(/papers/[^"]+)"><circle')
BUILDING = "The map is being built"


@pytest.fixture(scope="module")
def pf(tmp_path_factory):
    pf = make_map_pf(tmp_path_factory.mktemp("map-web"), embed=260)
    yield pf
    pf.close()


@pytest.fixture(scope="module")
def base(pf):
    with serve_in_thread(create_app(pf, WebSettings(secret="test-secret", rate_limits=ROOMY, arxiv_api_url=""))) as url:
        yield url


def map_ready(c: httpx.Client):  # type: ignore[no-untyped-def]
    r = c.get("/papers/map")
    assert r.status_code == 200, r.text
    return r if POINT.search(r.text) else None


def test_without_a_map_file_the_page_says_so_then_the_map_appears(pf, base):
    path = pf.index_dir / "map.npz"
    assert not path.exists()
    with httpx.Client(base_url=base, timeout=60) as c:
        first = c.get("/papers/map")
        assert first.status_code == 200 and BUILDING in first.text and not POINT.search(first.text)
        j = c.get("/papers/map.json")
        assert j.status_code == 200 and j.json()["available"] is False and j.json()["points"] == []
        page = wait_for(lambda: map_ready(c), "the background map build")
    assert path.exists()
    links = POINT.findall(page.text)
    assert len(links) == 260  # every embedded paper (fewer than the 2,000 sample), none of the 41 without
    assert all(pf.store.get(link.removeprefix("/papers/")) is not None for link in links)
    labels = re.findall(r'<text [^>]*class="label">([^<]+)</text>', page.text)
    sm = load(path)
    assert len(labels) == len(sm.map.labels) >= 5 and all(labels)
    # the accessible list: every cluster, its label and a link to its papers
    for k, label in enumerate(sm.map.labels):
        assert f'href="/papers/map/cluster/{k}">{label}</a>' in page.text


def test_json_points_are_valid_and_versioned(pf, base):
    with httpx.Client(base_url=base, timeout=60) as c:
        wait_for(lambda: map_ready(c), "the map")
        r = c.get("/papers/map.json")
        assert r.status_code == 200 and r.headers["cache-control"] == "no-cache"
        data = r.json()
        sm = load(pf.index_dir / "map.npz")
        assert data["available"] and data["version"] == sm.version and data["papers"] == len(sm.map.ids)
        pts = data["points"]
        assert len(pts) == len(sm.map.ids) and len({p["id"] for p in pts}) == len(pts)
        for p in pts[:50]:
            paper = pf.store.get(p["id"])
            assert paper is not None and p["title"] == paper.title
            assert 0 <= p["x"] <= 1 and 0 <= p["y"] <= 1 and 0 <= p["cluster"] < len(data["clusters"])
            row = sm.row(p["id"])
            assert row is not None and np.allclose(sm.map.xy[row], (p["x"], p["y"]), atol=1e-4)
        assert sorted(cl["label"] for cl in data["clusters"]) == sorted(sm.map.labels)
        assert sum(cl["size"] for cl in data["clusters"]) == len(sm.map.ids)
        pinned = c.get(f"/papers/map.json?v={data['version']}")
        assert "immutable" in pinned.headers["cache-control"] and pinned.json() == data
        assert f'/papers/map.json?v={data["version"]}' in c.get("/papers/map").text


def test_personal_marks_only_for_their_member(pf, base):
    with httpx.Client(base_url=base, timeout=60) as c:
        wait_for(lambda: map_ready(c), "the map")
    sm = load(pf.index_dir / "map.npz")
    liked, saved = sm.map.ids[3], sm.map.ids[40]
    alice, alice_id = member(pf, base, "alice@map.example")
    bob, _ = member(pf, base, "bob@map.example")
    community.toggle_vote(pf.store, alice_id, pf.store.pk_of(liked))
    shelf = coll.create(pf.store, alice_id, "Reading")
    assert shelf is not None and coll.add(pf.store, shelf.id, pf.store.pk_of(saved))
    mine = alice.get("/papers/map")
    assert mine.status_code == 200 and mine.headers["cache-control"] == "no-store"
    assert f'<a class="mark liked" href="/papers/{liked}">' in mine.text
    assert f'<a class="mark saved" href="/papers/{saved}">' in mine.text
    rec = re.findall(r'<a class="mark recommended" href="/papers/([^"]+)">', mine.text)
    assert rec and liked not in rec  # the feed's picks, never the liked paper itself
    assert 'data-count="liked">1<' in mine.text and 'data-count="saved">1<' in mine.text
    for other in (bob.get("/papers/map").text, httpx.get(base + "/papers/map").text):
        assert 'class="mark liked"' not in other and 'class="mark saved"' not in other
        assert f'/papers/{liked}"><circle' in other or liked not in other  # a plain point at most
    assert 'class="mark' not in httpx.get(base + "/papers/map").text
    alice.close()
    bob.close()


def test_cluster_pages(pf, base):
    with httpx.Client(base_url=base, timeout=60) as c:
        wait_for(lambda: map_ready(c), "the map")
        sm = load(pf.index_dir / "map.npz")
        r = c.get("/papers/map/cluster/0")
        assert r.status_code == 200 and sm.map.labels[0] in r.text
        assert all(f"/papers/{pid}" in r.text for pid in sm.central[0][:5])
        assert c.get(f"/papers/map/cluster/{len(sm.map.labels)}").status_code == 404
        assert c.get("/papers/map/cluster/-1").status_code == 400
        assert c.get("/papers/map/cluster/x").status_code == 400


def test_a_corrupt_map_file_is_moved_aside_and_rebuilt(pf, base):
    path = pf.index_dir / "map.npz"
    with httpx.Client(base_url=base, timeout=60) as c:
        wait_for(lambda: map_ready(c), "the map")
        good = load(path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])  # a truncated write
        r = c.get("/papers/map")
        assert r.status_code == 200 and BUILDING in r.text
        wait_for(lambda: map_ready(c), "the rebuilt map")
    healed = load(path)
    assert healed.map.ids == good.map.ids and healed.map.labels == good.map.labels
    assert list(pf.index_dir.glob("map.broken-*.npz"))  # the broken file kept for the operator


def test_garbage_map_file_is_rebuilt_inline_on_the_command_line(pf, tmp_path):
    mf = MapFile(pf.index_dir)
    (pf.index_dir / "map.npz").write_text(json.dumps({"not": "a map"}))
    assert mf.state(pf.store)[0] == "corrupt"
    assert mf.ensure(pf.store) is True
    state, sm = mf.state(pf.store)
    assert state == "ok" and sm is not None and len(sm.map.ids) == 260


def test_a_stale_map_is_served_while_it_is_rebuilt(pf, base):
    path = pf.index_dir / "map.npz"
    with httpx.Client(base_url=base, timeout=60) as c:
        wait_for(lambda: map_ready(c), "the map")
        before = load(path)
        ids = [p.id for chunk in pf.store.iter_changed(-1) for _, _, p in chunk]
        assert put_shared_embeddings(pf, ids) == 300  # 40 more: 15% more papers with embeddings
        r = c.get("/papers/map")
        assert r.status_code == 200 and len(POINT.findall(r.text)) == 260  # the old map, still shown
        wait_for(lambda: len(POINT.findall(c.get("/papers/map").text)) == 300, "the refreshed map")
    assert load(path).version != before.version
