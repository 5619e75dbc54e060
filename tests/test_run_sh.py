"""`./run.sh` as a user runs it, in a copy of the checkout whose `.venv` is already installed (the real
scripts/bootstrap.sh sees its stamp and returns at once; `.venv/bin/paperfeed` runs this worktree's code)
beside a `../shared/data/arxiv-cs-2025-2026.jsonl.gz` of 120 real papers: serving with options
(`--port N`, `serve --port N`) on an empty database must ingest the shared corpus, like no arguments do;
other commands must not."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, corpus_records, write_jsonl

from paperfeed.web.testing import free_port

N = 120


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    top = tmp_path_factory.mktemp("runsh")
    repo = top / "paperfeed"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "run.sh", repo / "run.sh")
    shutil.copy2(ROOT / "scripts" / "bootstrap.sh", repo / "scripts" / "bootstrap.sh")
    shutil.copy2(ROOT / "pyproject.toml", repo / "pyproject.toml")
    bin_ = repo / ".venv" / "bin"
    bin_.mkdir(parents=True)
    launcher = f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m paperfeed.cli.main "$@"\n'
    (bin_ / "paperfeed").write_text(launcher)
    (bin_ / "paperfeed").chmod(0o755)
    time.sleep(0.01)
    (repo / ".venv" / ".installed").touch()  # newer than pyproject.toml: bootstrap has nothing to do
    (top / "shared" / "data").mkdir(parents=True)
    write_jsonl(top / "shared" / "data" / "arxiv-cs-2025-2026.jsonl.gz", corpus_records(N, skip=61000), gz=True)
    return repo


def _env(db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERFEED_", "PYTHONPATH"))}
    return {**env, "PAPERFEED_DB": str(db), "PAPERFEED_DIGEST_INTERVAL": "0", "PAPERFEED_EMBED_IN_BACKGROUND": "0"}


def _papers_once_served(checkout: Path, db: Path, *args: str) -> int:
    port = free_port()
    proc = subprocess.Popen([str(checkout / "run.sh"), *[a.replace("PORT", str(port)) for a in args]],
                            env=_env(db), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120  # 120 papers ingest in about a second once the server is up
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                papers = httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=5).json()["papers"]
                if papers == N or time.monotonic() > deadline:
                    return papers
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)


@pytest.mark.parametrize("args", [("--port", "PORT", "--workers", "1"), ("serve", "--port", "PORT", "--workers", "1")])
def test_serving_with_options_ingests_the_shared_corpus(checkout, tmp_path, args):
    assert _papers_once_served(checkout, tmp_path / "site.db", *args) == N


def test_db_option_before_serving_options(checkout, tmp_path):
    db = tmp_path / "other.db"
    assert _papers_once_served(checkout, tmp_path / "unused.db", "--db", str(db), "--port", "PORT", "--workers",
                               "1") == N
    assert db.exists() and not (tmp_path / "unused.db").exists()


def test_other_commands_do_not_ingest(checkout, tmp_path):
    db = tmp_path / "cmd.db"
    p = subprocess.run([str(checkout / "run.sh"), "status"], env=_env(db), capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    assert "papers        0" in p.stdout
    h = subprocess.run([str(checkout / "run.sh"), "--help"], env=_env(db), capture_output=True, text=True,
                       timeout=300)
    assert h.returncode == 0 and "serve" in h.stdout and "ingest" in h.stdout
