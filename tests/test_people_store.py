"""The people tables (migration 0005_people) on every store backend: handles and their uniqueness under a
race, roles, bans, author claims (one approved claim per author of a paper, even when two decisions race),
and the auto-approve rules."""

from __future__ import annotations

import threading

import pytest
from store_backends import open_store, store_backend  # noqa: F401  (fixture)

from paperfeed.models import new_paper
from paperfeed.store import people as P
from paperfeed.store.accounts import AccountStore
from paperfeed.store.papers import Store


def _member(store, email, verified=True):  # type: ignore[no-untyped-def]
    u = AccountStore(store).create_user(email, "not-a-real-hash", verified=verified)
    assert u is not None
    return u.id


def _paper(store, title="A study of things", authors=("Ada Lovelace", "Charles Babbage")):  # type: ignore[no-untyped-def]
    p = new_paper(title=title, abstract="x", source="test", authors=list(authors))
    with store.paper_batch() as b:
        b.upsert([p])
    pk = store.pk_of(p.id)
    assert pk is not None
    return pk


def test_handles_roles_and_bans(store_backend, tmp_path):  # noqa: F811
    store = open_store(store_backend, tmp_path)
    a, b = _member(store, "a@example.org"), _member(store, "b@example.org")
    assert P.handle_of(store, a) is None and P.member(store, a).shown_handle == f"member{a}"
    assert P.set_handle(store, a, "alice", "alice")
    assert not P.set_handle(store, b, "alice", "alice")  # the handle is taken
    assert not P.set_handle(store, b, "alicе", "alice")  # another spelling, same skeleton: taken
    assert P.set_handle(store, a, "alice", "alice")  # re-setting one's own is fine
    assert P.handle_of(store, a) == "alice" and P.handles_of(store, [a, b, 999]) == {a: "alice"}
    m = P.member_by_handle(store, "Alice")
    assert m is not None and m.id == a and m.public and not hasattr(m, "email")
    assert P.member_by_handle(store, "bob") is None
    assert P.role_of(store, a) == "member" and P.role_of(store, 999) == "member"
    assert P.set_role(store, a, "moderator") and P.role_of(store, a) == "moderator"
    assert not P.set_role(store, 999, "operator")
    with pytest.raises(ValueError):
        P.set_role(store, a, "god")
    assert not P.is_banned(store, b)
    assert P.ban(store, b, "spam") and P.is_banned(store, b)
    first = P.member(store, b).banned_at
    assert P.ban(store, b) and P.member(store, b).banned_at == first  # the first ban's time is kept
    assert not P.ban(store, 999)
    assert P.unban(store, b) and not P.is_banned(store, b)
    P.set_profile(store, a, "Alice A.", "I study things.", ["https://example.org/alice"])
    m = P.member(store, a)
    assert (m.display_name, m.bio, m.links) == ("Alice A.", "I study things.", ["https://example.org/alice"])
    store.close()


def test_a_handle_race_has_exactly_one_winner(store_backend, tmp_path):  # noqa: F811
    store = open_store(store_backend, tmp_path)
    ids = [_member(store, f"m{i}@example.org") for i in range(8)]
    results: dict[int, bool] = {}
    start = threading.Barrier(len(ids))

    def grab(uid: int) -> None:
        start.wait()
        # each spells it differently (case, Cyrillic а): one skeleton, so one winner
        results[uid] = P.set_handle(store, uid, "racer" if uid % 2 else "rаcer", "racer")

    threads = [threading.Thread(target=grab, args=(uid,)) for uid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [uid for uid, won in results.items() if won]
    assert len(results) == 8 and len(winners) == 1
    holder = P.member_by_handle_key(store, "racer")
    assert holder is not None and holder.id == winners[0]
    store.close()


def test_claims_decisions_and_one_approval_per_author(store_backend, tmp_path):  # noqa: F811
    store = open_store(store_backend, tmp_path)
    a, b = _member(store, "a@example.org"), _member(store, "b@example.org")
    P.set_handle(store, a, "ada", "ada")
    P.set_handle(store, b, "bob", "bob")
    pk = _paper(store)
    ca = P.create_claim(store, a, pk, "Ada Lovelace", "ada lovelace")
    cb = P.create_claim(store, b, pk, "Ada Lovelace", "ada lovelace")
    assert ca and cb and ca.status == "pending"
    assert P.create_claim(store, a, pk, "Ada Lovelace", "ada lovelace") is None  # the same claim twice
    assert [c.id for c in P.claims(store, "pending")] == [ca.id, cb.id]
    assert P.claimed_authors(store, pk) == {}  # pending claims link nothing
    assert P.decide_claim(store, ca.id, "approved", decided_by=b)
    assert not P.decide_claim(store, ca.id, "rejected", decided_by=b)  # decided already
    assert not P.decide_claim(store, cb.id, "approved", decided_by=a)  # Ada is claimed already
    assert P.claim(store, cb.id).status == "pending"
    assert P.decide_claim(store, cb.id, "rejected", decided_by=a, reason="not you")
    c = P.claim(store, cb.id)
    assert (c.status, c.decided_by, c.reason) == ("rejected", a, "not you") and c.decided_at is not None
    assert P.claimed_authors(store, pk) == {"Ada Lovelace": "ada"}
    assert P.claimed_authors_many(store, [pk, 999]) == {pk: {"Ada Lovelace": "ada"}}
    assert P.is_paper_author(store, a, pk) and not P.is_paper_author(store, b, pk)
    assert P.paper_authors_among(store, pk) == {a}
    assert [x.id for x in P.claims_of_member(store, a, "approved")] == [ca.id]
    P.ban(store, a)
    assert P.claimed_authors(store, pk) == {}  # a banned member's name links nowhere
    store.close()


def test_two_approvals_racing_for_one_author_have_one_winner(store_backend, tmp_path):  # noqa: F811
    store = open_store(store_backend, tmp_path)
    pk = _paper(store)
    ids = [_member(store, f"m{i}@example.org") for i in range(6)]
    claim_ids = [P.create_claim(store, uid, pk, "Charles Babbage", "charles babbage").id for uid in ids]
    results: list[bool] = []
    start = threading.Barrier(len(claim_ids))

    def approve(cid: int) -> None:
        start.wait()
        results.append(P.decide_claim(store, cid, "approved", decided_by=None))

    threads = [threading.Thread(target=approve, args=(cid,)) for cid in claim_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 5 + [True]
    assert len(P.claims(store, "approved")) == 1 and len(P.claims(store, "pending")) == 5
    store.close()


def test_rules(store_backend, tmp_path):  # noqa: F811
    store = open_store(store_backend, tmp_path)
    r = P.add_rule(store, "uni.example.edu", "*", created_by="cli")
    assert r is not None and P.add_rule(store, "uni.example.edu", "*") is None
    P.add_rule(store, "lab.example.org", "ada *")
    assert [x.author_pattern for x in P.rules(store, "uni.example.edu")] == ["*"]
    assert len(P.rules(store)) == 2
    assert P.delete_rule(store, r.id) and not P.delete_rule(store, r.id)
    assert len(P.rules(store)) == 1
    store.close()


def test_upgrading_to_0005_keeps_every_members_tokens_and_sessions(tmp_path):
    """0005 adds columns to `users` in place: a SQLite table rebuild would cascade-delete api_tokens and
    sessions (foreign keys are on), logging everyone out and voiding their API tokens."""
    from alembic import command
    from sqlalchemy import text

    from paperfeed.store.engine import _alembic_config, head_revision, sqlite_engine

    db = tmp_path / "old.db"
    Store.open(str(db)).close()
    engine = sqlite_engine(db)
    cfg = _alembic_config()
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004_accounts")
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        conn.execute(text("INSERT INTO users (email, password_hash, created_at) VALUES ('o@example.org', 'h', "
                          "'2026-01-05 09:00:00')"))
        conn.execute(text("INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES (1, 'x', 'th', "
                          "'2026-01-05 09:00:00')"))
        conn.execute(text("INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at) VALUES ('sh', 1, "
                          "'2026-01-05 09:00:00', '2026-01-05 09:00:00')"))
    engine.dispose()
    store = Store.open(str(db))  # migrates to head
    with store.read() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() == head_revision()
        assert conn.execute(text("select count(*) from api_tokens")).scalar() == 1
        assert conn.execute(text("select count(*) from sessions")).scalar() == 1
    assert P.role_of(store, 1) == "member" and P.member(store, 1).links == []
    store.close()
