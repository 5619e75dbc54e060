"""Every personal-feed signal, stored through store/ on SQLite and PostgreSQL, changes what
`FeedService` (the one entry point of site, API, feeds and digest) picks, and says why.

Real arXiv papers with their real MiniLM vectors: 400 papers, the first 200 listed in the newest week
(the candidates), the rest a month earlier (what a member may already have liked).
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import numpy as np
import pytest
from conftest import corpus_records
from shared_vectors import shared_vectors
from store_backends import open_store, store_backend  # noqa: F401

from paperfeed.accounts.passwords import hash_password
from paperfeed.config import MODEL_NAME
from paperfeed.ingestion.jsonl import record_to_paper
from paperfeed.recommend.service import FeedService
from paperfeed.store import collections as coll
from paperfeed.store import community
from paperfeed.store import signals as sig
from paperfeed.store import subscriptions as subs_sql
from paperfeed.store.accounts import AccountStore

NEWEST = date(2026, 1, 9)


@pytest.fixture(scope="module")
def records() -> list[dict]:
    vecs = shared_vectors()
    return [r for r in corpus_records(600) if r["id"] in vecs][:400]


@pytest.fixture
def world(store_backend, tmp_path, records):  # noqa: F811
    store = open_store(store_backend, tmp_path)
    papers = []
    for i, r in enumerate(records):
        p = record_to_paper(r)
        listed = NEWEST - timedelta(days=i % 5) if i < 200 else NEWEST - timedelta(days=30)
        papers.append(dataclasses.replace(p, listed=listed))
    with store.paper_batch() as batch:
        batch.upsert(papers)
    vecs = shared_vectors()
    store.put_embeddings(MODEL_NAME, [(p.content_hash(), vecs[p.id]) for p in papers])
    accounts = AccountStore(store)
    alice = accounts.create_user("alice@example.org", hash_password("pw-alice-123456"), verified=True)
    bob = accounts.create_user("bob@example.org", hash_password("pw-bob-1234567"), verified=True)
    assert alice and bob
    yield store, papers, alice.id, bob.id
    store.close()


def pk(store, pid: str) -> int:
    v = store.pk_of(pid)
    assert v is not None
    return v


def nearest(papers, pid: str, among) -> list[str]:
    vecs = shared_vectors()
    q = vecs[pid] / np.linalg.norm(vecs[pid])
    ids = [p.id for p in among if p.id != pid]
    sims = [float(vecs[i] @ q / np.linalg.norm(vecs[i])) for i in ids]
    return [ids[j] for j in np.argsort(-np.array(sims), kind="stable")]


def test_cold_start_then_upvote_and_save_change_the_feed(world):
    store, papers, alice, bob = world
    svc = FeedService(store)
    assert svc.for_member(alice) == []  # no signal: the caller shows onboarding, not an arbitrary order
    liked = papers[300]  # older than the candidates
    community.toggle_vote(store, alice, pk(store, liked.id))
    picks = svc.for_member(alice, 20)
    assert picks and all(p.paper_id in {q.id for q in papers[:200]} for p in picks)
    near = nearest(papers, liked.id, papers[:200])
    ranks = sorted(near.index(p.paper_id) for p in picks[:5])
    assert np.mean(ranks) < 40, ranks  # the picks are near the liked paper (random order: ~100 of 200)
    assert picks[0].reason.startswith("because you upvoted") and picks[0].because == liked.id
    assert svc.for_member(bob) == []  # signals are per member

    c = coll.create(store, alice, "Reading group")
    assert c is not None
    saved = papers[350]
    coll.add(store, c.id, pk(store, saved.id))
    after = svc.for_member(alice, 200)
    top_saved = next(p for p in after if p.because == saved.id)
    assert top_saved.reason.startswith("because you saved")
    assert "Reading group" not in top_saved.reason or top_saved.reason.startswith("like ")


def test_dismissed_and_shown_never_come_back(world):
    store, papers, alice, _ = world
    svc = FeedService(store)
    community.toggle_vote(store, alice, pk(store, papers[300].id))
    first = svc.for_member(alice, 10)
    gone = first[0].paper_id
    assert sig.dismiss(store, alice, pk(store, gone))
    assert not sig.dismiss(store, alice, pk(store, gone))  # twice is once
    again = svc.for_member(alice, None)
    assert gone not in {p.paper_id for p in again}
    shown = [p.paper_id for p in again[:3]]
    assert sig.mark_shown(store, alice, [pk(store, s) for s in shown], "digest") == 3
    later = {p.paper_id for p in svc.for_member(alice, None)}
    assert not later & set(shown) and gone not in later
    assert sig.undismiss(store, alice, pk(store, gone))  # "unless asked"
    assert gone in {p.paper_id for p in svc.for_member(alice, None)}


def test_opens_count_only_when_turned_on(world):
    store, papers, alice, _ = world
    svc = FeedService(store)
    community.toggle_vote(store, alice, pk(store, papers[300].id))
    top = svc.for_member(alice, 1)[0].paper_id
    assert not sig.implicit_on(store, alice)
    assert not sig.record_open(store, alice, pk(store, top), "digest")  # off by default: nothing kept
    assert top in {p.paper_id for p in svc.for_member(alice, None)}
    sig.set_implicit(store, alice, True)
    assert sig.record_open(store, alice, pk(store, top), "digest")
    assert top not in {p.paper_id for p in svc.for_member(alice, None)}
    sig.set_implicit(store, alice, False)
    assert not sig.implicit_on(store, alice)


def test_follows_come_first_with_their_reason(world):
    store, papers, alice, _ = world
    svc = FeedService(store)
    target = papers[123]
    author = target.authors[0]
    sig.follow(store, alice, "author", author)
    picks = svc.for_member(alice, 5)
    assert picks[0].reason == f"by {author}, whom you follow"
    assert any(author in p.authors for p in papers[:200] if p.id == picks[0].paper_id)
    assert sig.unfollow(store, alice, "author", author)
    assert svc.for_member(alice) == []

    cat = papers[50].categories[0]
    sig.follow(store, alice, "category", cat)
    cpicks = svc.for_member(alice, None)
    assert cpicks and cpicks[0].reason == f"new in {cat}, which you follow"
    sig.unfollow(store, alice, "category", cat)

    sig.follow(store, alice, "search", "gaussian splatting")
    spicks = svc.for_member(alice, None)
    assert spicks and spicks[0].reason == "matches your search \u201cgaussian splatting\u201d"
    hit = next(p for p in papers if p.id == spicks[0].paper_id)
    assert "gaussian" in (hit.title + hit.abstract).lower()
    with pytest.raises(ValueError):
        sig.follow(store, alice, "planet", "Mars")


def test_a_linked_subscription_shares_its_follows(world):
    store, papers, alice, _ = world
    svc = FeedService(store)
    prefs = {"frequency": "daily", "weekly_day": 0, "delivery_hour": 8, "timezone": "UTC",
             "sections": "follows", "send_empty": 0}
    author = papers[77].authors[0]
    sub, created = subs_sql.subscribe(store, "alice@example.org", prefs, alice, [("author", author)])
    assert created
    picks = svc.for_member(alice, 1)
    assert picks and picks[0].reason == f"by {author}, whom you follow"
    assert sig.unfollow(store, alice, "author", author)  # unfollowing from a reason reaches the subscription
    assert subs_sql.follows_of(store, [sub.id])[sub.id] == []


def test_download_and_delete_signals(world):
    store, papers, alice, bob = world
    community.toggle_vote(store, alice, pk(store, papers[300].id))
    community.toggle_vote(store, bob, pk(store, papers[301].id))
    sig.dismiss(store, alice, pk(store, papers[5].id))
    sig.follow(store, alice, "author", "Yann LeCun")
    c = coll.create(store, alice, "Private", "private")
    assert c is not None
    coll.add(store, c.id, pk(store, papers[10].id))
    sig.record_import(store, alice, "bibtex", 1)
    data = sig.export_signals(store, alice)
    assert [r["paper"] for r in data["upvotes"]] == [papers[300].id]
    assert [r["paper"] for r in data["dismissed"]] == [papers[5].id]
    assert data["follows"][0]["value"] == "Yann LeCun"
    assert data["collections"][0]["papers"] == [papers[10].id] and data["collections"][0]["name"] == "Private"
    assert data["imports"][0]["format"] == "bibtex"
    assert sig.delete_signals(store, alice) >= 5
    empty = sig.export_signals(store, alice)
    assert not any(empty[k] for k in ("upvotes", "dismissed", "follows", "collections", "imports"))
    assert FeedService(store).for_member(alice) == []
    assert [r["paper"] for r in sig.export_signals(store, bob)["upvotes"]] == [papers[301].id]  # bob untouched


def test_collection_visibility_and_more_like_this(world):
    store, papers, alice, bob = world
    c = coll.create(store, alice, "  Reading   group ")
    assert c is not None and c.name == "Reading group" and c.visibility == "private"
    assert coll.create(store, alice, "Reading group") is None  # one name per member
    assert coll.create(store, bob, "Reading group") is not None  # but names are per member
    with pytest.raises(ValueError):
        coll.create(store, alice, "x", "everyone")
    c = coll.get(store, c.id)
    assert coll.visible_to(c, alice) and not coll.visible_to(c, bob) and not coll.visible_to(c, None)
    assert c is not None and not coll.visible_to(c, bob, c.share_token)  # private: a token does not open it
    coll.set_visibility(store, c.id, "link")
    c = coll.get(store, c.id)
    assert c is not None and coll.visible_to(c, None, c.share_token) and not coll.visible_to(c, None, "nope")
    old = c.share_token
    coll.set_visibility(store, c.id, "link", new_token=True)
    c = coll.get(store, c.id)
    assert c is not None and not coll.visible_to(c, None, old)
    coll.set_visibility(store, c.id, "public")
    assert coll.visible_to(coll.get(store, c.id), None)
    members = [papers[300].id, papers[301].id, papers[302].id]
    for pid in members:
        assert coll.add(store, c.id, pk(store, pid))
    assert not coll.add(store, c.id, pk(store, members[0]))
    assert coll.item_ids(store, c.id) == members
    assert coll.saved_in(store, alice, [pk(store, members[0])]) == {pk(store, members[0]): ["Reading group"]}
    picks = FeedService(store).like_these(members, "Reading group", 10)
    assert picks and not set(members) & {p.paper_id for p in picks}
    assert all(p.reason.startswith(("because you saved", "like ")) for p in picks)
    assert coll.remove(store, c.id, pk(store, members[0])) and coll.item_ids(store, c.id) == members[1:]
    assert coll.remove_collection(store, c.id) and coll.get(store, c.id) is None


def test_raw_signals_many_equals_raw_signals_member_by_member(world):
    """The digest's batched read gives each member exactly what the one-member read gives: every kind of
    signal, members with none, and members spread over several chunks (one read transaction each)."""
    store, papers, alice, bob = world
    accounts = AccountStore(store)
    carol = accounts.create_user("carol@example.org", "not-a-real-hash", verified=True)
    dave = accounts.create_user("dave@example.org", "not-a-real-hash", verified=True)
    assert carol and dave
    # alice: every kind of signal, a paper both upvoted and saved, a follow she shares with her subscription
    for i in (300, 301, 302):
        community.toggle_vote(store, alice, pk(store, papers[i].id))
    c1 = coll.create(store, alice, "Reading group")
    c2 = coll.create(store, alice, "Later", "public")
    assert c1 and c2
    coll.add(store, c1.id, pk(store, papers[301].id))
    coll.add(store, c1.id, pk(store, papers[310].id))
    coll.add(store, c2.id, pk(store, papers[311].id))
    for i in (3, 1, 2):
        sig.dismiss(store, alice, pk(store, papers[i].id))
    author = papers[20].authors[0]
    sig.follow(store, alice, "author", author)
    sig.follow(store, alice, "category", papers[21].categories[0])
    sig.follow(store, alice, "search", "gaussian splatting")
    prefs = {"frequency": "daily", "weekly_day": 0, "delivery_hour": 8, "timezone": "UTC",
             "sections": "follows", "send_empty": 0}
    subs_sql.subscribe(store, "alice@example.org", prefs, alice, [("author", author), ("author", "Ada Lovelace"),
                                                                  ("category", "cs.LG")])
    sig.mark_shown(store, alice, [pk(store, papers[i].id) for i in (10, 11)], "digest")
    sig.set_implicit(store, alice, True)
    assert sig.record_open(store, alice, pk(store, papers[12].id), "digest")
    # bob: a subscription's follows only, and one open; carol: one save; dave: nothing at all
    subs_sql.subscribe(store, "bob@example.org", prefs, bob, [("search", "diffusion"), ("category", "cs.CV")])
    sig.set_implicit(store, bob, True)
    assert sig.record_open(store, bob, pk(store, papers[13].id), "list")
    c3 = coll.create(store, carol.id, "Mine")
    assert c3
    coll.add(store, c3.id, pk(store, papers[320].id))
    community.toggle_vote(store, carol.id, pk(store, papers[321].id))
    sig.mark_shown(store, carol.id, [pk(store, papers[14].id)], "digest")

    members = [alice, bob, carol.id, dave.id]
    one_by_one = {u: sig.raw_signals(store, u) for u in members}
    a = one_by_one[alice]
    assert len(a.liked) == 5 and len(a.dismissed) == 3 and len(a.follows) == 5 and len(a.exclude) == 3
    assert ("author", "Ada Lovelace") in a.follows and one_by_one[bob].follows and one_by_one[carol.id].liked
    assert one_by_one[dave.id] == sig.RawSignals()
    assert sig.raw_signals_many(store, members) == one_by_one
    assert sig.raw_signals_many(store, members[::-1], chunk=1) == one_by_one  # four chunks, any order
    assert sig.raw_signals_many(store, [*members, alice], chunk=3) == one_by_one  # a repeat counts once
    # more members than one default chunk: the real ones at both ends, ids with no account between
    top = max(members)
    many = [alice, bob, *range(top + 1, top + 1 + 2 * sig.CHUNK), carol.id, dave.id]
    got = sig.raw_signals_many(store, many)
    assert len(got) == len(many)
    assert {u: got[u] for u in members} == one_by_one
    assert all(got[u] == sig.RawSignals() for u in many if u not in one_by_one)
    assert sig.raw_signals_many(store, []) == {}
