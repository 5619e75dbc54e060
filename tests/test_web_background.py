"""Background embedding while the site serves: the real `paperfeed serve` over 60 real papers (ten
listing days), polled through /api/status until every paper is embedded; newest first; search by
meaning afterwards; one embedder per database; clean stop; papers added later; a killed embedder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import httpx
import pytest
from conftest import corpus_records, run_cli, write_jsonl
from sqlalchemy import func, select

from paperfeed.config import MODEL_NAME
from paperfeed.core import Paperfeed
from paperfeed.search.background import BackgroundEmbedder, EmbedderProcess, embed_lock, lock_held, read_progress
from paperfeed.store.schema import embeddings, papers
from paperfeed.web.testing import free_port

DENTAL = "2603.23003"  # "... Human Identification using Dental Records"
BY_MEANING = "matching teeth of victims"  # none of these words is in that paper's text (checked below)
# seconds: a bound so a broken embedder fails the test instead of hanging it
POLL_LIMIT = float(os.environ.get("PAPERFEED_TEST_POLL_LIMIT", "600"))


def records(n: int = 60, skip: int = 50000) -> list[dict]:
    """`n` real papers spread over ten listing days (every 50th of a 3,000-paper slice)."""
    return corpus_records(50 * n, skip=skip)[::50][:n]


def make_db(directory: Path, n: int = 60) -> Path:
    db = directory / "bg.db"
    run_cli("ingest", str(write_jsonl(directory / "papers.jsonl", records(n))), db=db, check=True)
    return db


def wait_for(what: str, check, limit: float | None = None, state: Path | None = None):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + (limit or POLL_LIMIT)
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}; embedder: {read_progress(state) if state else ''}")


def embedded(db: Path) -> int:
    pf = Paperfeed(db)
    try:
        return pf.store.count_embedded(MODEL_NAME)
    finally:
        pf.close()


def chunks_in_commit_order(db: Path) -> list[list[date]]:
    """The listing days of the papers in each committed embedding chunk (one `seq` per chunk), oldest chunk first."""
    pf = Paperfeed(db)
    try:
        with pf.store.read() as conn:
            rows = conn.execute(
                select(embeddings.c.seq, papers.c.listed)
                .join(papers, papers.c.content_hash == embeddings.c.content_hash)
                .where(embeddings.c.model == MODEL_NAME).order_by(embeddings.c.seq)
            ).all()
    finally:
        pf.close()
    out: dict[int, list[date]] = {}
    for seq, listed in rows:
        out.setdefault(seq, []).append(listed)
    return list(out.values())


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`paperfeed serve` (one worker, background embedding in chunks of 16) on a fresh 60-paper store."""
    d = tmp_path_factory.mktemp("bgserve")
    db = make_db(d)
    port = free_port()
    env = {**os.environ, "PAPERFEED_DB": str(db), "PAPERFEED_EMBED_CHUNK": "16", "PAPERFEED_ARXIV_API": ""}
    with open(d / "serve.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "paperfeed.cli.main", "serve", "--port", str(port),
                                 "--workers", "1"], env=env, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=60) as c:
        def up() -> bool:
            assert proc.poll() is None, (d / "serve.log").read_text()
            try:
                return c.get("/api/status").status_code == 200
            except httpx.TransportError:
                return False

        wait_for("the server", up)
        yield {"db": db, "proc": proc, "client": c, "dir": d}
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)


def test_serves_at_once_and_embeds_newest_first(served):
    c, db = served["client"], served["db"]
    # The site answers while embedding is still going on (or about to start).
    first = c.get("/api/status").json()
    assert first["papers"] == 60 and first["embedder"]["enabled"] is True
    assert c.get("/papers").status_code == 200
    seen: list[int] = []

    def all_embedded() -> dict | None:
        s = c.get("/api/status").json()
        seen.append(s["embedded"])
        return s if s["embedded"] == s["papers"] and s["vectors"] == 60 and s["vectors_fresh"] else None

    done = wait_for("every paper embedded", all_embedded)
    assert seen == sorted(seen)  # progress only grows
    assert done["embedded_percent"] == 100.0 and done["embedder"]["running"] is True
    assert done["embedder"]["state"] in ("idle", "embedding")
    # Newest first: every chunk's papers are listed no earlier than any paper of a later chunk.
    chunks = chunks_in_commit_order(db)
    assert len(chunks) == 4  # 60 papers in chunks of 16
    for newer, older in zip(chunks, chunks[1:], strict=False):
        assert min(newer) >= max(older)
    page = c.get("/status").text
    assert "60 of 60 (100.0%)" in page and "fresh, 60 vectors" in page


def test_search_by_meaning_after_background_embedding(served):
    c = served["client"]
    wait_for("every paper embedded", lambda: c.get("/api/status").json()["vectors"] == 60)
    paper = c.get(f"/api/papers/{DENTAL}").json()
    text = (paper["title"] + " " + paper["abstract"]).lower()
    assert not any(w in text for w in ("teeth", "matching", "victim"))  # found by meaning, not words
    hits = c.get("/api/papers/search", params={"q": BY_MEANING, "limit": 5}).json()["results"]
    assert hits and hits[0]["id"] == DENTAL and hits[0]["match"] == "related"


def test_papers_ingested_later_are_embedded(served):
    c, db = served["client"], served["db"]
    wait_for("the first 60", lambda: c.get("/api/status").json()["embedded"] == 60, state=db)
    more = write_jsonl(served["dir"] / "more.jsonl", records(5, skip=60000))
    run_cli("ingest", str(more), db=db, check=True)  # another process, as a person would add papers
    s = wait_for("65 embedded", lambda: (lambda s: s if s["embedded"] == 65 and s["vectors_fresh"] else None)(
        c.get("/api/status").json()), state=db)
    assert s["papers"] == 65 and s["vectors"] == 65


def test_shutdown_stops_the_embedder(served):
    proc, db = served["proc"], served["db"]
    pid = read_progress(db)["pid"]
    assert pid != proc.pid  # a child process does the embedding
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    rec = read_progress(db)
    assert rec["state"] == "stopped" and rec["running"] is False
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not lock_held(db)


def test_one_embedder_per_database(tmp_path):
    """While another holder has the lock the embedder waits and embeds nothing; then it does the work."""
    db = make_db(tmp_path, 20)
    stop = threading.Event()
    bg = BackgroundEmbedder(db, stop, chunk=8, poll=0.2)
    with embed_lock(db):
        t = threading.Thread(target=bg.run_forever)
        t.start()
        wait_for("the embedder to wait", lambda: read_progress(db).get("state") == "waiting")
        assert bg.pf.store.count_embedded(MODEL_NAME) == 0
    try:
        wait_for("20 embedded", lambda: read_progress(db).get("state") == "idle")
        assert bg.pf.store.count_embedded(MODEL_NAME) == 20
    finally:
        stop.set()
        t.join(60)
        bg.close()
    assert read_progress(db)["state"] == "stopped"


def test_two_embedders_never_share_the_work(tmp_path):
    """Two passes started together over one database: one does it all, the other finds nothing left."""
    db = make_db(tmp_path, 24)
    bgs = [BackgroundEmbedder(db, chunk=8, record_order=True) for _ in range(2)]
    runs: list = [None, None]

    def go(i: int) -> None:
        runs[i] = bgs[i].run_backlog()

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    try:
        assert sorted(r.embedded for r in runs) == [0, 24]
        assert len(set(runs[0].order) | set(runs[1].order)) == 24
        with bgs[0].pf.store.read() as conn:
            assert conn.execute(select(func.count()).select_from(embeddings)).scalar() == 24
    finally:
        for b in bgs:
            b.close()


def test_a_killed_embedder_is_restarted_and_continues(tmp_path):
    db = make_db(tmp_path, 10)
    ep = EmbedderProcess(db, restart_delay=0.2).start()
    try:
        wait_for("10 embedded", lambda: read_progress(db).get("state") == "idle")
        first = read_progress(db)["pid"]
        os.kill(first, signal.SIGKILL)
        run_cli("ingest", str(write_jsonl(tmp_path / "more.jsonl", records(4, skip=61000))), db=db, check=True)
        wait_for("a new embedder", lambda: read_progress(db).get("pid") not in (None, first)
                 and read_progress(db).get("state") == "idle" and embedded(db) == 14, state=db)
        assert ep.restarts == 1
    finally:
        ep.stop()
    assert read_progress(db)["state"] == "stopped"
