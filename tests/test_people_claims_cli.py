"""Claiming authorship (listed names only, operator decisions, auto-approve rules for verified email domains)
and the operator's CLI: `paperfeed admin claims list|approve|reject|rule`, `admin role`, `admin ban`."""

from __future__ import annotations

import pytest
from conftest import run_cli

from paperfeed.models import new_paper
from paperfeed.people.claims import ClaimError, author_key, make_claim
from paperfeed.people.roles import can_moderate, is_operator
from paperfeed.store import people as P
from paperfeed.store.accounts import AccountStore
from paperfeed.store.papers import Store


def _setup(tmp_path):  # type: ignore[no-untyped-def]
    db = tmp_path / "people.db"
    store = Store.open(str(db))
    p = new_paper(title="Notes on the analytical engine", abstract="x", source="test",
                  authors=["Ada Lovelace", "Charles Babbage"], arxiv_id="2501.00001")
    with store.paper_batch() as b:
        b.upsert([p])
    accounts = AccountStore(store)
    ada = accounts.create_user("ada@uni.example.edu", "h", verified=True)
    bob = accounts.create_user("bob@elsewhere.example", "h", verified=True)
    new = accounts.create_user("new@uni.example.edu", "h", verified=False)
    assert ada and bob and new
    P.set_handle(store, ada.id, "ada", "ada")
    P.set_handle(store, bob.id, "bob", "bob")
    P.set_handle(store, new.id, "newbie", "newbie")
    return db, store, store.pk_of(p.id), ada.id, bob.id, new.id


def test_claims_policy(tmp_path):
    db, store, pk, ada, bob, new = _setup(tmp_path)
    assert author_key("Ádá  LOVELACE.") == "ada lovelace"
    with pytest.raises(ClaimError, match="not among"):
        make_claim(store, bob, pk, "Alan Turing")
    with pytest.raises(ClaimError, match="verify"):
        make_claim(store, new, pk, "Ada Lovelace")  # unverified
    c = make_claim(store, bob, pk, "charles  babbage")  # matched to the listed spelling
    assert (c.status, c.author_name) == ("pending", "Charles Babbage")
    with pytest.raises(ClaimError, match="already"):
        make_claim(store, bob, pk, "Charles Babbage")
    P.add_rule(store, "uni.example.edu", "ada *")
    auto = make_claim(store, ada, pk, "Ada Lovelace")
    assert auto.status == "approved" and auto.reason.startswith("auto: rule")
    assert make_claim(store, ada, pk, "Charles Babbage").status == "pending"  # the rule's pattern does not match
    assert P.claimed_authors(store, pk) == {"Ada Lovelace": "ada"}
    P.ban(store, bob)
    with pytest.raises(ClaimError, match="cannot claim"):
        make_claim(store, bob, pk, "Ada Lovelace")
    assert not can_moderate(store, ada) and not is_operator(store, None)
    P.set_role(store, ada, "moderator")
    assert can_moderate(store, ada) and not is_operator(store, ada)
    P.set_role(store, bob, "operator")
    assert not is_operator(store, bob)  # banned
    store.close()


def test_admin_cli(tmp_path):
    db, store, pk, ada, bob, new = _setup(tmp_path)
    c = make_claim(store, bob, pk, "Charles Babbage")
    c2 = make_claim(store, ada, pk, "Charles Babbage")
    store.close()
    out = run_cli("admin", "claims", "list", db=db, check=True).stdout.splitlines()
    assert out == [f"{c.id}\tpending\tbob\t2501.00001\tCharles Babbage",
                   f"{c2.id}\tpending\tada\t2501.00001\tCharles Babbage"]
    assert "@" not in "".join(out)  # no email addresses
    approved = run_cli("admin", "claims", "approve", str(c.id), db=db, check=True)
    assert approved.stdout.strip() == f"claim {c.id} approved"
    r = run_cli("admin", "claims", "approve", str(c2.id), db=db)
    assert r.returncode == 1 and "approved already" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("admin", "claims", "reject", str(c.id), db=db)
    assert r.returncode == 1 and "not pending" in r.stderr
    assert run_cli("admin", "claims", "reject", str(c2.id), "--reason", "dup", db=db, check=True).returncode == 0
    r = run_cli("admin", "claims", "approve", "999", db=db)
    assert r.returncode == 1 and "no claim 999" in r.stderr
    assert run_cli("admin", "claims", "list", "--status", "approved", db=db, check=True).stdout.split("\t")[2] == "bob"
    ruled = run_cli("admin", "claims", "rule", "@Uni.Example.edu", db=db, check=True)
    assert "rule 1: uni.example.edu *" in ruled.stdout
    assert run_cli("admin", "claims", "rule", "not a domain", db=db).returncode == 1
    assert run_cli("admin", "claims", "rules", db=db, check=True).stdout == "1\tuni.example.edu\t*\n"
    assert run_cli("admin", "role", "ada", "moderator", db=db, check=True).returncode == 0
    r = run_cli("admin", "role", "nobody", "operator", db=db)
    assert r.returncode == 1 and "no member has the handle" in r.stderr
    assert run_cli("admin", "role", "ada", "king", db=db).returncode == 1
    assert "banned" in run_cli("admin", "ban", "BOB", "--reason", "spam", db=db, check=True).stdout
    store = Store.open(str(db))
    assert P.role_of(store, ada) == "moderator" and P.is_banned(store, bob)
    assert P.claimed_authors(store, pk) == {}  # the banned claimant's link is gone
    store.close()
    run_cli("admin", "ban", "bob", "--undo", db=db, check=True)
    store = Store.open(str(db))
    assert not P.is_banned(store, bob) and P.claimed_authors(store, pk) == {"Charles Babbage": "bob"}
    store.close()


def test_a_new_rule_settles_the_waiting_claims_it_matches(tmp_path):
    db, store, pk, ada, bob, new = _setup(tmp_path)
    waiting = make_claim(store, ada, pk, "Ada Lovelace")
    other = make_claim(store, bob, pk, "Charles Babbage")  # bob is at another domain
    unmatched = make_claim(store, ada, pk, "Charles Babbage")  # the pattern below does not match this name
    store.close()
    ruled = run_cli("admin", "claims", "rule", "uni.example.edu", "ada *", db=db, check=True)
    assert ruled.stdout.strip() == "rule 1: uni.example.edu ada * (1 pending claim approved)"
    store = Store.open(str(db))
    assert P.claim(store, waiting.id).status == "approved"
    assert P.claim(store, waiting.id).reason == "auto: rule 1 (uni.example.edu)"
    assert [P.claim(store, c.id).status for c in (other, unmatched)] == ["pending", "pending"]
    with pytest.raises(ClaimError, match="already claimed by another member"):
        make_claim(store, bob, pk, "Ada Lovelace")
    store.close()
    again = run_cli("admin", "claims", "rule", "uni.example.edu", "*", db=db, check=True)
    assert again.stdout.strip() == "rule 2: uni.example.edu * (1 pending claim approved)"  # ada's Babbage claim
