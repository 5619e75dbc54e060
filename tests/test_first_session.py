"""The README's first session while `paperfeed serve` runs: a real server started on an empty database
with $PAPERFEED_SOURCES and `--port` (it must ingest them), its start-up log (one line per thing started,
"running on" only when a request is answered, nothing that reads like a crash), then the session's own
commands beside it: a second `ingest` of the same file explains itself, `index` names and follows the
server's background embedder instead of blocking silently on its lock."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import corpus_records, run_cli, write_jsonl

from paperfeed.search.background import read_progress
from paperfeed.web.testing import free_port

N = 400
CRASH_LIKE = re.compile(r"died|traceback|exception|error|killed|refused|fatal|crash|warning|loading weights|\d+%\|",
                        re.IGNORECASE)


class Served:
    def __init__(self, proc: subprocess.Popen, db: Path, src: Path, port: int):
        self.proc, self.db, self.src, self.port = proc, db, src, port
        self.base = f"http://127.0.0.1:{port}"
        self.lines: list[str] = []
        self.first_answer: int | None = None  # the status of a request made the moment "running on" was read
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            if "running on" in line and not self.ready.is_set():
                try:  # right then: no retry, no sleep
                    self.first_answer = httpx.get(f"{self.base}/api/status", timeout=10).status_code
                except httpx.HTTPError as e:
                    self.first_answer = -1
                    self.lines.append(f"(test) request right after 'running on' failed: {e!r}")
                self.ready.set()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    d = tmp_path_factory.mktemp("firstrun")
    src = write_jsonl(d / "first.jsonl", corpus_records(N, skip=52000))
    db = d / "papers.db"
    port = free_port()
    env = {**os.environ, "PAPERFEED_DB": str(db), "PAPERFEED_SOURCES": str(src), "PAPERFEED_EMBED_CHUNK": "8",
           "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    env = {k: v for k, v in env.items() if not k.startswith("PAPERFEED_SMTP_")}
    proc = subprocess.Popen([sys.executable, "-m", "paperfeed.cli.main", "serve", "--port", str(port),
                             "--workers", "2"], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True, start_new_session=True)
    s = Served(proc, db, src, port)
    try:
        assert s.ready.wait(300), "\n".join(s.lines)
        yield s
    finally:
        proc.terminate()
        proc.wait(60)


def test_running_on_is_printed_when_the_site_answers(served):
    assert served.first_answer == 200, "\n".join(served.lines)
    running = [ln for ln in served.lines if "running on" in ln]
    assert running == [f"running on http://127.0.0.1:{served.port}/papers " + running[0].split("/papers ", 1)[1]]
    assert "2 worker processes" in running[0]


def test_one_line_per_background_job(served):
    log = "\n".join(served.lines)
    assert sum("background ingest started: first.jsonl" in ln for ln in served.lines) == 1, log
    assert sum(ln.startswith("background embedder started (pid ") for ln in served.lines) == 1, log
    assert sum(ln.startswith("digest scheduler started") for ln in served.lines) == 1, log
    assert "Uvicorn running on" not in log and "Started server process" not in log


def test_serve_with_a_port_ingests_the_sources_of_an_empty_database(served):
    deadline = time.monotonic() + 300
    while (papers := httpx.get(f"{served.base}/api/status", timeout=10).json()["papers"]) < N:
        assert time.monotonic() < deadline, "\n".join(served.lines)
        time.sleep(0.5)
    assert papers == N


def test_a_second_ingest_says_everything_is_already_in_the_store(served):
    test_serve_with_a_port_ingests_the_sources_of_an_empty_database(served)
    again = run_cli("ingest", str(served.src), db=served.db, check=True)
    assert f"added 0, updated 0, unchanged {N}, rejected 0" in again.stderr
    assert f"unchanged {N:,}: already in the store" in again.stderr
    assert "nothing new to add" in again.stderr


def test_index_while_the_server_embeds_names_it_and_follows_its_progress(served):
    test_serve_with_a_port_ingests_the_sources_of_an_empty_database(served)
    deadline = time.monotonic() + 300
    while read_progress(served.db).get("state") != "embedding":  # the server's embedder holds the lock
        assert time.monotonic() < deadline, read_progress(served.db)
        time.sleep(0.2)
    pid = read_progress(served.db)["pid"]
    env = {**os.environ, "PAPERFEED_DB": str(served.db), "COLUMNS": "200", "PAPERFEED_PROGRESS": "1"}
    proc = subprocess.run([sys.executable, "-m", "paperfeed.cli.main", "index", "--limit", "24"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert f"waiting for the server's background embedder (pid {pid}, " in proc.stderr, proc.stderr
    assert re.search(r"pid \d+, \d+/400 embedded\) …", proc.stderr)
    assert "embedded by the server" in proc.stderr  # the progress bar
    done = re.search(r"done: (\d+)/400 papers have embeddings", proc.stderr)
    assert done and int(done.group(1)) >= 24, proc.stderr
    status = httpx.get(f"{served.base}/api/status", timeout=10).json()
    assert status["papers"] == N


def test_the_start_up_log_has_nothing_that_reads_like_a_crash(served):
    time.sleep(2)  # the background jobs have run a while (ingest done, embedding under way)
    alarming = [ln for ln in served.lines if CRASH_LIKE.search(ln)]
    assert alarming == [], "\n".join(served.lines)
    assert served.proc.poll() is None
