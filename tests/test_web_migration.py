"""Migration 0002 (users, votes, submissions, api_tokens): an existing 0001 database upgrades in
place with its papers kept, the schema matches `schema.py`, and the constraints hold."""

from __future__ import annotations

from datetime import date

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from paperfeed.models import new_paper
from paperfeed.ranking.community import Community
from paperfeed.store import schema
from paperfeed.store.accounts import AccountStore
from paperfeed.store.engine import _alembic_config, head_revision, sqlite_engine
from paperfeed.store.papers import Store


def _at_revision(path, revision: str) -> None:
    engine = sqlite_engine(path)
    cfg = _alembic_config()
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()


def test_a_0001_database_upgrades_and_keeps_its_papers(tmp_path):
    db = tmp_path / "old.db"
    _at_revision(db, "0001")
    with sqlite_engine(db).connect() as conn:
        assert "users" not in inspect(conn).get_table_names()
    store = Store(sqlite_engine(db), db)
    with store.write() as conn:
        store.upsert(conn, [new_paper(title="Kept paper", arxiv_id="2501.00001", source="t",
                                      listed=date(2025, 1, 2))], store.next_seq(conn))
    store.close()

    store = Store.open(db)  # migrates to head
    with store.read() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() == head_revision()
        names = set(inspect(conn).get_table_names())
        for table in schema.metadata.tables:  # every table the code knows, as the migrations made it
            assert table in names
            cols = {c["name"] for c in inspect(conn).get_columns(table)}
            assert cols == {c.name for c in schema.metadata.tables[table].columns}, table
    assert store.get("2501.00001").title == "Kept paper"
    store.close()


def test_constraints_one_vote_one_submission_one_account(tmp_path):
    store = Store.open(tmp_path / "p.db")
    with store.write() as conn:
        store.upsert(conn, [new_paper(title="P", arxiv_id="2501.00002", source="t")], store.next_seq(conn))
    pk = store.pk_of("2501.00002")
    com = Community(store)
    accounts = AccountStore(store)
    u = accounts.create_user("A@Example.org", "hash")
    assert u is not None and accounts.create_user("a@example.org ", "hash") is None  # emails fold case and space
    assert com.toggle_vote(u.id, pk) is True and com.vote_counts([pk]) == {pk: 1}
    assert com.toggle_vote(u.id, pk) is False and com.vote_counts([pk]) == {}
    assert com.submit(u.id, pk, date(2025, 1, 3)) and not com.submit(u.id, pk, date(2025, 1, 3))
    from sqlalchemy import insert

    com.toggle_vote(u.id, pk)
    with pytest.raises(IntegrityError), store.write() as conn:
        conn.execute(insert(schema.votes).values(user_id=u.id, paper_pk=pk, created_at=u.created_at))
    with pytest.raises(IntegrityError), store.write() as conn:  # foreign keys are enforced
        conn.execute(insert(schema.votes).values(user_id=999, paper_pk=pk, created_at=u.created_at))
    store.close()


def test_empty_database_ingests_configured_sources(tmp_path):
    from conftest import corpus_records, write_jsonl

    from paperfeed.core import Paperfeed
    from paperfeed.web.bootstrap import configured_sources, ingest_if_empty, start_background_ingest

    src = write_jsonl(tmp_path / "s.jsonl", corpus_records(40, skip=30000))
    assert configured_sources({"PAPERFEED_SOURCES": f" {src} , ,"}) == [str(src)]
    assert configured_sources({}) == []
    pf = Paperfeed(tmp_path / "p.db")
    t = start_background_ingest(pf, [str(src)])
    assert t is not None
    t.join(timeout=60)
    assert pf.store.count() == 40 and pf.status().keyword_fresh
    assert ingest_if_empty(pf, [str(src)]) is None  # a database with papers is left alone
    assert start_background_ingest(pf, [str(src)]) is None
    pf.close()
