"""The discussion's store layer on SQLite and PostgreSQL: threading, edit/delete marks, votes, counts,
reports and the moderation log, notifications exactly once and the email claim that only one sender wins."""

from __future__ import annotations

import pytest
from account_helpers import verified_member
from store_backends import open_store, store_backend  # noqa: F401

from paperfeed.models import Paper
from paperfeed.store import discussion as sql
from paperfeed.store import notifications as notes


@pytest.fixture
def store(store_backend, tmp_path):  # noqa: F811
    s = open_store(store_backend, tmp_path)
    with s.paper_batch() as b:
        b.upsert([Paper(id="2501.00001", title="One"), Paper(id="2501.00002", title="Two")])
    yield s
    s.close()


def _pks(store):
    return [store.pk_of("2501.00001"), store.pk_of("2501.00002")]


def test_thread_edit_delete_votes_counts(store):
    a, b = verified_member(store, "a@example.org"), verified_member(store, "b@example.org")
    p1, p2 = _pks(store)
    top = sql.add_comment(store, p1, a.id, "first **bold**")
    reply = sql.add_comment(store, p1, b.id, "a reply", top.id)
    assert reply is not None and reply.parent_id == top.id
    assert sql.add_comment(store, p2, b.id, "wrong paper", top.id) is None  # a parent on another paper
    assert [c.id for c in sql.thread(store, p1)] == [top.id, reply.id]
    assert sql.comment_counts(store, [p1, p2]) == {p1: 2}

    assert not sql.edit_comment(store, top.id, b.id, "not mine")
    assert sql.edit_comment(store, top.id, a.id, "first, edited")
    edited = sql.get_comment(store, top.id)
    assert edited.body == "first, edited" and edited.edited_at is not None

    assert sql.toggle_vote(store, reply.id, a.id) is True
    assert sql.vote_counts(store, [reply.id]) == {reply.id: 1} and sql.voted(store, a.id, [reply.id]) == {reply.id}
    assert sql.toggle_vote(store, reply.id, a.id) is False
    assert sql.vote_counts(store, [reply.id]) == {}

    v0 = sql.discussion_version(store)
    assert not sql.delete_comment(store, top.id, b.id)
    assert sql.delete_comment(store, top.id, a.id)
    gone = sql.get_comment(store, top.id)
    assert gone.deleted_at is not None and gone.body == "" and not gone.visible
    assert sql.discussion_version(store) != v0
    assert sql.comment_counts(store, [p1]) == {p1: 1}
    assert sql.add_comment(store, p1, b.id, "reply to deleted", top.id) is None
    recent = sql.recent_comments_by(store, b.id)  # the profile page's list: live comments only
    assert [(r.comment_id, r.paper_id, r.paper_title, r.excerpt) for r in recent] == [
        (reply.id, "2501.00001", "One", "a reply")]
    assert sql.recent_comments_by(store, a.id) == []


def test_reports_moderation_and_log(store):
    a, b, mod = (verified_member(store, f"{n}@example.org") for n in "abm")
    p1 = _pks(store)[0]
    c = sql.add_comment(store, p1, a.id, "spam")
    assert sql.report(store, c.id, b.id, "spam") is True
    assert sql.report(store, c.id, b.id, "again") is False  # one report per member
    assert [r.comment_id for r in sql.open_reports(store)] == [c.id]
    assert sql.moderate(store, mod.id, "hide", c.id, "spam link")
    assert not sql.moderate(store, mod.id, "hide", c.id)  # already hidden: nothing logged twice
    assert sql.open_reports(store) == []
    assert not sql.get_comment(store, c.id).visible
    assert sql.moderate(store, mod.id, "unhide", c.id)
    sql.log_action(store, mod.id, "ban", target_user_id=a.id, comment_id=c.id)
    log = sql.moderation_entries(store)
    assert [(e.action, e.actor_id, e.target_user_id) for e in log] == [("ban", mod.id, a.id), ("unhide", mod.id, a.id),
                                                                       ("hide", mod.id, a.id)]
    assert log[2].note == "spam link"
    with pytest.raises(ValueError):
        sql.moderate(store, mod.id, "explode", c.id)


def test_notifications_once_and_single_claim(store):
    a, b = verified_member(store, "a@example.org"), verified_member(store, "b@example.org")
    p1 = _pks(store)[0]
    c = sql.add_comment(store, p1, b.id, "hello @member1")
    assert notes.add(store, a.id, "mention", c.id, email=True) is True
    assert notes.add(store, a.id, "reply", c.id, email=True) is False  # the same comment never notifies twice
    assert notes.unread_count(store, a.id) == 1
    [nid] = notes.pending_ids(store)
    first = notes.claim(store, nid)
    assert first is not None and first[1] == "a@example.org" and first[2] == 1  # the first attempt
    assert notes.claim(store, nid) is None  # a second sender loses
    notes.finish(store, nid, "sent")
    assert notes.pending_ids(store) == []
    assert notes.mark_read(store, a.id) == 1 and notes.unread_count(store, a.id) == 0

    assert notes.email_enabled(store, b.id)
    c2 = sql.add_comment(store, p1, a.id, "reply", c.id)
    notes.add(store, b.id, "reply", c2.id, email=True)
    notes.set_email(store, b.id, False)  # turning email off also stops what is waiting
    assert not notes.email_enabled(store, b.id) and notes.pending_ids(store) == []
    notes.set_email(store, b.id, True)
    assert notes.email_enabled(store, b.id)


def test_email_retry_backoff_and_lease(store):
    """A transient failure is tried again only from its "not before" time, with the attempt counted; a sender
    that died holding a row (still `sending`) is replaced once its lease ends, not before."""
    from datetime import timedelta

    a, b = verified_member(store, "a@example.org"), verified_member(store, "b@example.org")
    c = sql.add_comment(store, _pks(store)[0], b.id, "hi")
    notes.add(store, a.id, "mention", c.id, email=True)
    [nid] = notes.pending_ids(store)
    now = notes.utcnow()
    _, _, attempt = notes.claim(store, nid, timedelta(minutes=10), now)
    notes.finish(store, nid, "pending", retry_at=now + timedelta(minutes=1))
    assert notes.pending_ids(store, now=now) == []  # not yet
    assert notes.claim(store, nid, now=now) is None
    later = now + timedelta(minutes=2)
    assert notes.pending_ids(store, now=later) == [nid]
    _, _, second = notes.claim(store, nid, timedelta(minutes=10), later)
    assert (attempt, second) == (1, 2)
    # the holder dies: nobody may take it during its lease, someone may after
    assert notes.claim(store, nid, now=later + timedelta(minutes=9)) is None
    _, _, third = notes.claim(store, nid, timedelta(minutes=10), later + timedelta(minutes=11))
    assert third == 3
    notes.finish(store, nid, "sent")
    notes.finish(store, nid, "pending")  # a finish only changes a row in `sending`: a late one changes nothing
    assert notes.email_counts(store) == {"sent": 1}
