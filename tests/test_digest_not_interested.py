"""The digest's personal section end to end: a real run_due to a real SMTP server (aiosmtpd), the picks
logged as shown once sent, and each pick's signed "not interested" link on the real site (real HTTP):
GET only asks, POST dismisses, a tampered link changes nothing."""

from __future__ import annotations

import html
import re
from datetime import datetime

import httpx
from conftest import corpus_records, write_jsonl
from smtp_servers import Sink, smtp_server
from sqlalchemy import insert, select, update

from paperfeed.mail.runner import run_due
from paperfeed.mail.settings import MailSettings
from paperfeed.mail.subscriptions import Prefs, Subscriptions
from paperfeed.store import signals as signals_sql
from paperfeed.store.accounts import AccountStore
from paperfeed.store.schema import dismissals, subscribers, votes

_LINK = re.compile(r"Not interested: (\S+)")


def test_for_you_picks_are_mailed_logged_and_dismissable(tmp_path):
    from paperfeed.core import Paperfeed
    from paperfeed.ingestion.pipeline import ingest_paths
    from paperfeed.web import create_app
    from paperfeed.web.testing import serve_in_thread

    pf = Paperfeed(tmp_path / "late.db")
    ingest_paths(pf.store, [str(write_jsonl(tmp_path / "late.jsonl", corpus_records(400, skip=74300)))])
    # liked: papers listed the day after the window (not candidates)
    earlier = [p for p in (pf.store.get(r["id"]) for r in corpus_records(400, skip=74300)) if p and
               p.listed and p.listed.isoformat() == "2026-07-01" and "language" in p.title.lower()][:3]
    assert len(earlier) == 3
    uid = AccountStore(pf.store).create_user("reader@example.org", "x").id
    with pf.store.write() as conn:
        conn.execute(insert(votes), [{"user_id": uid, "paper_pk": pf.store.pk_of(p.id),
                                      "created_at": datetime(2026, 6, 20)} for p in earlier])
    subs = Subscriptions(pf.store)
    s, _ = subs.subscribe("reader@example.org", Prefs(sections=("similar",)), user_id=uid)
    subs.confirm(s.id)
    with pf.store.write() as conn:
        conn.execute(update(subscribers).where(subscribers.c.id == s.id)
                     .values(confirmed_at=datetime(2026, 6, 1), created_at=datetime(2026, 6, 1)))
    sink = Sink()
    with serve_in_thread(create_app(pf)) as base, smtp_server(sink) as c:
        settings = MailSettings(port=c.port, timeout=5, sender="digests@paperfeed.test", base_url=base)
        assert run_due(pf, settings, datetime(2026, 7, 1, 9, 0)).sent == 1
        [got] = sink.received
        text = got.message.get_body(("plain",)).get_content()
        page = got.message.get_body(("html",)).get_content()
        assert "FOR YOU" in text and "Why: because you upvoted" in text
        urls = _LINK.findall(text)
        assert len(urls) == 10 and all(html.escape(u) in page for u in urls)
        # sent: the picks are logged as shown, so neither the next digest nor For-you picks them again
        shown = signals_sql.raw_signals(pf.store, uid).exclude
        assert len(shown) == 10
        with httpx.Client(timeout=30) as h:
            bad = h.get(urls[0][:-3] + ("AAA" if not urls[0].endswith("AAA") else "BBB"))
            assert bad.status_code == 400 and "Nothing was changed" in bad.text
            assert h.post(urls[0][:-3] + "xyz").status_code == 400
            r = h.get(urls[0])
            assert r.status_code == 200 and 'method="post"' in r.text
            with pf.store.read() as conn:
                assert conn.execute(select(dismissals.c.paper_pk).where(dismissals.c.user_id == uid)).all() == []
            r = h.post(urls[0])
            assert r.status_code == 200 and "Noted" in r.text
        dismissed = signals_sql.raw_signals(pf.store, uid).dismissed
        assert len(dismissed) == 1 and dismissed[0] in shown
    pf.close()
