"""`paperfeed digest preview` says why a digest is empty: an unconfirmed subscription, a store whose
newest papers are older than the digest's window, follows that match nothing, nothing followed."""

from __future__ import annotations

import pytest
from conftest import make_site_pf, run_cli
from test_mail_delivery import subscribe_backdated

from paperfeed.mail.subscriptions import Subscriptions


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    pf = make_site_pf(tmp_path_factory.mktemp("why"))  # papers listed 2025-09-29 and 2025-10-01
    subscribe_backdated(pf.store, ["nomatch@example.org", "match@example.org"], ["zzzyxxq", "learning"])
    subscribe_backdated(pf.store, ["nofollow@example.org"], ["learning"])
    subs = Subscriptions(pf.store)
    sid = subs.by_email("nofollow@example.org").id
    for f in subs.follows_of([sid])[sid]:
        assert subs.remove_follow(sid, f.kind, f.value)
    subs.subscribe("pending@example.org")
    path = pf.db_path
    pf.close()
    return path


def preview(db, email: str, now: str):  # type: ignore[no-untyped-def]
    return run_cli("digest", "preview", email, "--now", now, db=db, check=True)


def test_a_store_older_than_the_window_is_named(db):
    p = preview(db, "match@example.org", "2026-11-26T09:00")
    assert "empty: no papers listed since " in p.stderr
    assert "the newest listed day is 1 Oct 2025" in p.stderr


def test_follows_that_match_nothing_are_named(db):
    p = preview(db, "nomatch@example.org", "2025-09-30T06:00")
    assert "empty: nothing matched your follows among the 288 papers listed on 29 Sep " \
           "(search 'zzzyxxq': 0)" in p.stderr, p.stderr


def test_a_digest_with_papers_has_no_reason(db):
    p = preview(db, "match@example.org", "2025-09-30T06:00")
    assert "empty:" not in p.stderr and "learning" in p.stdout.lower()


def test_nothing_followed_says_so(db):
    p = preview(db, "nofollow@example.org", "2025-09-30T06:00")
    assert "empty: nothing is followed" in p.stderr, p.stderr


def test_an_unconfirmed_subscription_says_so(db):
    p = preview(db, "pending@example.org", "2026-11-26T09:00")
    assert "empty: not confirmed yet" in p.stderr, p.stderr
