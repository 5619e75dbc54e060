"""Migration 0004_accounts on a database at 0003 with real data: users can still log in (marked verified),
their tokens keep the write access they had, pending confirmation links still work, and the new tables
match `schema.py`."""

from __future__ import annotations

from datetime import datetime

import httpx
from account_helpers import log_in
from alembic import command
from conftest import make_site_pf
from sqlalchemy import insert, inspect, text

from paperfeed.accounts.passwords import hash_password
from paperfeed.mail.links import Links
from paperfeed.store import schema
from paperfeed.store.engine import _alembic_config, head_revision, sqlite_engine
from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread

T0 = datetime(2026, 1, 5, 9)


def test_a_0003_database_upgrades_with_its_accounts_working(tmp_path):
    site = make_site_pf(tmp_path)  # papers at head; we rebuild the account tables as 0003 had them
    db = site.db_path
    site.close()
    engine = sqlite_engine(db)
    cfg = _alembic_config()
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        assert "sessions" not in inspect(conn).get_table_names()
        conn.execute(text("INSERT INTO users (email, password_hash, created_at) VALUES (:e, :h, :t)"),
                     {"e": "old@example.org", "h": hash_password("an old member's passphrase"), "t": T0})
        conn.execute(text("INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES (1, 'x', :h, :t)"),
                     {"h": __import__("hashlib").sha256(b"pf_old-token").hexdigest(), "t": T0})
        conn.execute(text("INSERT INTO subscribers (email, status, frequency, weekly_day, delivery_hour, timezone, "
                          "sections, send_empty, created_at) VALUES ('pend@example.org', 'pending', 'daily', 0, 7, "
                          "'UTC', 'trending', 0, :t)"), {"t": T0})
    engine.dispose()

    from paperfeed.core import Paperfeed

    pf = Paperfeed(db)  # migrates to head
    try:
        with pf.store.read() as conn:
            assert conn.execute(text("select version_num from alembic_version")).scalar() == head_revision()
            for table in ("sessions", "rate_buckets", "login_failures", "users", "api_tokens", "subscribers"):
                cols = {c["name"] for c in inspect(conn).get_columns(table)}
                assert cols == {c.name for c in schema.metadata.tables[table].columns}, table
        with pf.store.write() as conn:  # the new tables take rows
            conn.execute(insert(schema.rate_buckets).values(action="a", client="c", tokens=1, stamp=0, full_at=1))
        settings = WebSettings(secret="m", arxiv_api_url=None, rate_limits={})
        with serve_in_thread(create_app(pf, settings)) as url, httpx.Client(base_url=url, timeout=60) as c:
            assert log_in(c, "old@example.org", "an old member's passphrase").status_code == 303
            pid = pf.engine.search("learning", limit=1)[0].paper.id
            r = c.post(f"/api/papers/{pid}/upvote", headers={"Authorization": "Bearer pf_old-token"})
            assert r.status_code == 200 and r.json()["upvoted"] is True
            assert "(write)" in c.get("/tokens").text and "never expires" in c.get("/tokens").text
            link = Links("m", url).confirm_url(1)  # version 0: what a link mailed before the upgrade carries
            assert c.get(link).status_code == 200
        from paperfeed.mail.subscriptions import Subscriptions

        assert Subscriptions(pf.store).by_email("pend@example.org").status == "active"
    finally:
        pf.close()
