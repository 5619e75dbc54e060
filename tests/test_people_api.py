"""GET /api/members/{handle} over real HTTP: the public profile, and nothing of private or hidden members
(an unknown handle, an unverified member, a banned one and one without a handle all get the same 404)."""

from __future__ import annotations

import httpx

from paperfeed.core import Paperfeed
from paperfeed.models import new_paper
from paperfeed.people.claims import make_claim
from paperfeed.store import people as P
from paperfeed.store.accounts import AccountStore
from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread


def test_member_api_shows_the_public_profile_and_hides_the_rest(tmp_path):
    pf = Paperfeed(tmp_path / "site.db")
    store = pf.store
    p = new_paper(title="Notes on the analytical engine", abstract="x", source="test",
                  authors=["Ada Lovelace"], arxiv_id="2501.00001")
    with store.paper_batch() as b:
        b.upsert([p])
    acc = AccountStore(store)
    ada = acc.create_user("ada@uni.example.edu", "h", verified=True)
    shy = acc.create_user("shy@example.org", "h", verified=False)
    bad = acc.create_user("bad@example.org", "h", verified=True)
    anon = acc.create_user("anon@example.org", "h", verified=True)
    assert ada and shy and bad and anon
    P.set_handle(store, ada.id, "ada", "ada")
    P.set_handle(store, shy.id, "shy", "shy")
    P.set_handle(store, bad.id, "bad", "bad")
    P.ban(store, bad.id)
    P.set_profile(store, ada.id, "Ada L.", "Poetical science.", ["https://example.org/ada", "javascript:alert(1)"])
    c = make_claim(store, ada.id, store.pk_of(p.id), "Ada Lovelace")
    P.decide_claim(store, c.id, "approved", decided_by=None)
    settings = WebSettings(secret="s", arxiv_api_url=None, rate_limits={})
    with serve_in_thread(create_app(pf, settings)) as url, httpx.Client(base_url=url, timeout=60) as client:
        r = client.get("/api/members/ADA")
        assert r.status_code == 200, r.text
        assert r.json() == {"handle": "ada", "display_name": "Ada L.", "bio": "Poetical science.",
                            "links": ["https://example.org/ada"],
                            "claimed_papers": [{"paper_id": p.id, "author_name": "Ada Lovelace"}],
                            "submissions": [], "public_collections": [], "recent_comments": []}
        assert "@" not in r.text and "role" not in r.text
        misses = [client.get(f"/api/members/{h}") for h in ("nobody", "shy", "bad", f"member{anon.id}", "%00")]
        assert {(m.status_code, m.text) for m in misses} == {(404, misses[0].text)}
    pf.close()
