"""`paperfeed ingest arxiv`: pages land in the store with their resumption position, atomically."""

from __future__ import annotations

from datetime import date

from conftest import run_cli
from sqlalchemy import text
from test_arxiv_feeds import FakeArxiv, Reply, Script, oai_key, three_oai_pages

from paperfeed.ingestion.harvest_cli import harvest_into
from paperfeed.ingestion.polite_http import PoliteClient
from paperfeed.store.papers import Store


def test_cli_harvest_from_local_oai_server(tmp_path):
    server = FakeArxiv()
    try:
        server.respond = Script(oai_key, three_oai_pages())
        db = tmp_path / "h.db"
        args = ("ingest", "arxiv", "--category", "cs.CL", "--since", "2025-01-01", "--until", "2025-01-31",
                "--base-url", server.url + "/oai2", "--interval", "0.05")
        proc = run_cli(*args, db=db)
        assert proc.returncode == 0, proc.stderr
        assert "added 3, updated 0, unchanged 0, rejected 1" in proc.stderr
        assert "2501.00005" in proc.stderr  # the malformed record is named
        store = Store.open(db)
        assert store.count() == 3 and store.get("2501.00003").categories[:2] == ["cs.AI", "cs.CL"]
        server.respond = Script(oai_key, three_oai_pages())
        again = run_cli(*args, db=db)
        assert "added 0, updated 0, unchanged 3" in again.stderr  # idempotent
    finally:
        server.close()


def test_interrupted_harvest_resumes_after_last_committed_page(tmp_path):
    server = FakeArxiv()
    try:
        pages = three_oai_pages()
        good_page2 = pages["tok|3"]
        pages["tok|3"] = [Reply(503, b"down")]
        server.respond = Script(oai_key, pages)
        store = Store.open(tmp_path / "h.db")
        url = server.url + "/oai2"
        with PoliteClient(interval=0.01, max_retries=2, backoff=0.01, timeout=5) as client:
            rep = harvest_into(store, "cs.CL", date(2025, 1, 1), date(2025, 1, 31), "oai", url, client)
        assert rep.failure is not None and "503" in str(rep.failure)
        assert {p for p in ("2501.00001", "2501.00003") if store.get(p)} == {"2501.00001", "2501.00003"}
        assert store.count() == 2  # page 1 committed with its token; nothing of page 2
        with store.read() as conn:
            saved = conn.execute(text("select value from kv where key like 'harvest:%'")).scalar()
        assert '"resumption_token": "tok|3"' in saved
        server.hits.clear()
        pages = three_oai_pages()
        pages["tok|3"] = good_page2
        server.respond = Script(oai_key, pages)
        with PoliteClient(interval=0.01, max_retries=2, backoff=0.01, timeout=5) as client:
            rep = harvest_into(store, "cs.CL", date(2025, 1, 1), date(2025, 1, 31), "oai", url, client)
        assert rep.failure is None and rep.added == 1
        assert [h.params.get("resumptionToken") for h in server.hits] == ["tok|3", "tok|6"]  # page 1 not refetched
        assert store.count() == 3
        with store.read() as conn:
            left = conn.execute(text("select key from kv where key like 'harvest:%'")).all()
        assert left == []  # a completed harvest leaves no position behind
    finally:
        server.close()
