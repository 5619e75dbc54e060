"""The delivery ledger's SQL on both engines: planning is idempotent, two senders claiming at the same
time never take the same digest (SQLite: BEGIN IMMEDIATE; PostgreSQL: FOR UPDATE SKIP LOCKED), and the
250 -> commit recorder (SQLite: raw `?` SQL; PostgreSQL: a prepared statement) marks exactly what it sent.
"""

from __future__ import annotations

import threading
from datetime import date, datetime

from store_backends import open_store, store_backend  # noqa: F401  (fixture)

from paperfeed.ingestion.pipeline import ingest_records
from paperfeed.mail.ledger import Ledger
from paperfeed.mail.model import Digest, Period, Pick
from paperfeed.mail.subscriptions import Subscriptions
from paperfeed.models import new_paper

SUBSCRIBERS = 40
NOW = datetime(2026, 6, 2, 9, 0)


def _setup(store):  # type: ignore[no-untyped-def]
    ingest_records(store, [new_paper(title="A paper worth mailing", arxiv_id="2606.00001", source="arxiv-api")], "t")
    paper = store.get("2606.00001")
    pk = store.pk_of("2606.00001")
    subs = Subscriptions(store)
    digests = []
    for i in range(SUBSCRIBERS):
        sub, _ = subs.subscribe(f"reader{i}@example.org")
        sub = subs.confirm(sub.id)
        period = Period("2026-06-02", date(2026, 6, 1), date(2026, 6, 2), NOW)
        digests.append(Digest(sub, period, (Pick(pk, paper, "follows", "new in cs.CL"),)))
    return digests


def test_plan_claim_and_record_on_both_engines(store_backend, tmp_path):  # noqa: F811
    store = open_store(store_backend, tmp_path)
    digests = _setup(store)
    first = Ledger(store, owner="host-a:1").plan(digests, "example.org", NOW)
    again = Ledger(store, owner="host-a:1").plan(digests, "example.org", NOW)
    assert (first.planned, first.existing) == (SUBSCRIBERS, 0)
    assert (again.planned, again.existing) == (0, SUBSCRIBERS)  # a second planner is a no-op

    claims: dict[str, list[int]] = {}
    start = threading.Barrier(2)

    def sender(owner: str) -> None:
        ledger = Ledger(store, owner=owner)
        start.wait()
        mine: list[int] = []
        while batch := ledger.claim(7, NOW):
            mine.extend(c.digest_id for c in batch)
        claims[owner] = mine

    threads = [threading.Thread(target=sender, args=(o,)) for o in ("host-a:1", "host-b:2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a, b = claims["host-a:1"], claims["host-b:2"]
    assert not set(a) & set(b)  # never the same digest twice
    assert len(a) + len(b) == SUBSCRIBERS and len(set(a) | set(b)) == SUBSCRIBERS

    done, held = (a, b) if a else (b, a)  # one sender may have claimed everything before the other began
    ledger = Ledger(store, owner="host-a:1")
    with ledger.sent_recorder() as mark_sent:
        assert all(mark_sent(d) for d in done)
        assert not mark_sent(done[0])  # already sent: nothing changes
    assert ledger.status_counts() == ({"sent": len(done), "sending": len(held)} if held else {"sent": len(done)})
    loaded = ledger.load_many(done[:3])
    assert all(d.picks[0].paper.title == "A paper worth mailing" for d in loaded.values())
    store.close()
