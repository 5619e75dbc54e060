"""Onboarding over real HTTP (SQLite, real vectors, the real map file): each step writes the right signals,
the papers to rate exclude what was already rated, and every form without its CSRF token is refused."""

from __future__ import annotations

import re

import httpx
import pytest
from map_site import ROOMY, make_map_pf, member, token

from paperfeed.recommend.map_file import MapFile
from paperfeed.store import signals as sql
from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread

RATE = re.compile(r'name="r\.([^"]+)" value="interested"')


@pytest.fixture(scope="module")
def pf(tmp_path_factory):
    pf = make_map_pf(tmp_path_factory.mktemp("onboarding"))
    assert MapFile(pf.index_dir).ensure(pf.store)
    yield pf
    pf.close()


@pytest.fixture(scope="module")
def base(pf):
    with serve_in_thread(create_app(pf, WebSettings(secret="test-secret", rate_limits=ROOMY, arxiv_api_url=""))) as url:
        yield url


def test_anonymous_visitors_are_sent_to_log_in(base):
    r = httpx.get(base + "/onboarding")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/onboarding"


def test_categories_authors_and_papers_become_follows_and_upvotes(pf, base):
    c, uid = member(pf, base, "cats@onb.example")
    page = c.get("/onboarding").text
    offered = re.findall(r'name="category" value="([^"]+)"', page)
    assert "cs.LG" in offered or len(offered) >= 5
    t = token(c)
    r = c.post("/onboarding/categories", data={"csrf_token": t, "category": offered[:2], "offered": offered})
    assert r.status_code == 303
    follows = sql.raw_signals(pf.store, uid).follows
    assert sorted(v for k, v in follows if k == "category") == sorted(offered[:2])
    c.post("/onboarding/categories", data={"csrf_token": t, "category": offered[:1], "offered": offered})
    assert [v for k, v in sql.raw_signals(pf.store, uid).follows if k == "category"] == offered[:1]
    r = c.post("/onboarding/authors", data={"csrf_token": t, "authors": "Ada Lovelace; Alan  Turing\n"})
    assert r.status_code == 303
    assert {v for k, v in sql.raw_signals(pf.store, uid).follows if k == "author"} == {"Ada Lovelace", "Alan Turing"}
    empty = c.post("/onboarding/authors", data={"csrf_token": t, "authors": "  "})
    assert empty.status_code == 400 and "at least one author" in empty.text
    hit = c.get("/onboarding", params={"q": "language model"}).text
    pid = re.search(r'name="paper" value="([^"]+)"', hit).group(1)
    assert c.post("/onboarding/like", data={"csrf_token": t, "paper": pid}).status_code == 303
    assert c.post("/onboarding/like", data={"csrf_token": t, "paper": pid}).status_code == 303  # never un-votes
    assert [p for p, kind, _ in sql.raw_signals(pf.store, uid).liked] == [pid]
    assert c.post("/onboarding/like", data={"csrf_token": t, "paper": "9999.99999"}).status_code == 404
    bad = c.get("/onboarding", params={"q": 'unclosed "quote'})
    assert bad.status_code == 200


def test_a_region_becomes_likes_of_its_central_papers(pf, base):
    c, uid = member(pf, base, "region@onb.example")
    sm = MapFile(pf.index_dir).state(pf.store)[1]
    t = token(c, "/papers/map/cluster/1")
    assert c.post("/onboarding/region", data={"csrf_token": t, "cluster": "1"}).status_code == 303
    assert {p for p, _, _ in sql.raw_signals(pf.store, uid).liked} == set(sm.central[1][:3])
    pick = sm.central[2][5]
    c.post("/onboarding/region", data={"csrf_token": t, "cluster": "2", "paper": [pick, "not-in-region"]})
    assert {p for p, _, _ in sql.raw_signals(pf.store, uid).liked} == {*sm.central[1][:3], pick}
    assert c.post("/onboarding/region", data={"csrf_token": t, "cluster": "999"}).status_code == 404


def test_rating_writes_likes_and_dismissals_and_never_offers_them_again(pf, base):
    c, uid = member(pf, base, "rate@onb.example")
    first = RATE.findall(c.get("/onboarding/rate").text)
    assert len(first) == len(set(first)) == 8
    t = token(c, "/onboarding/rate")
    bad = c.post("/onboarding/rate", data={"csrf_token": t, f"r.{first[0]}": "maybe"})
    assert bad.status_code == 400 and not sql.raw_signals(pf.store, uid).liked
    answers = {f"r.{first[0]}": "interested", f"r.{first[1]}": "interested", f"r.{first[2]}": "not"}
    r = c.post("/onboarding/rate", data={"csrf_token": t, **answers, f"r.{first[3]}": "skip"})
    assert r.status_code == 303 and r.headers["location"] == "/papers/for-you"
    raw = sql.raw_signals(pf.store, uid)
    assert {p for p, _, _ in raw.liked} == set(first[:2]) and raw.dismissed == [first[2]]
    again = RATE.findall(c.get("/onboarding/rate").text)
    assert len(again) == 8 and not set(again) & set(first[:3])


def test_every_onboarding_form_needs_its_csrf_token(pf, base):
    c, uid = member(pf, base, "csrf@onb.example")
    some = RATE.findall(c.get("/onboarding/rate").text)[0]
    for path, data in [("/onboarding/categories", {"category": "cs.CL"}), ("/onboarding/authors", {"authors": "X Y"}),
                       ("/onboarding/like", {"paper": some}), ("/onboarding/region", {"cluster": "0"}),
                       ("/onboarding/rate", {f"r.{some}": "interested"})]:
        r = c.post(path, data=data)
        assert r.status_code == 403, path
        assert c.post(path, data={**data, "csrf_token": "forged"}).status_code == 403, path
    raw = sql.raw_signals(pf.store, uid)
    assert not raw.liked and not raw.follows and not raw.dismissed
