"""Embedding in the background while the site serves: newest papers first, in small chunks.

Why a separate process and not a thread of the server: on 2 cores a thread would share the
server's GIL (tokenising, SQL and the index sync are Python) and the process-wide embedder lock
that query embedding also takes, so a search arriving mid-batch would wait for the batch.  A
child process has its own interpreter and its own model copy (~300 MB), runs torch with as many
intra-op threads as the process may use (`available_cpus()`), at a lower CPU priority (nice +10):
with no requests it has the whole machine (one thread used to give 1.4-3.1 papers/s on 2 cores,
a quarter of what `paperfeed index` reaches), and when requests come the scheduler gives the
server's nice-0 threads ~90% of a contended core, so niceness, not a thread count, does the sharing
(bench/embed_background.py measures both sides).  OpenMP threads sleep rather than spin at barriers
(OMP_WAIT_POLICY=PASSIVE, set by embedder.py), so a preempted background thread costs the server
nothing.  It yields (sleeps briefly) between chunks.  It is started with the `spawn` method: forking a process that
already runs uvicorn threads or has torch loaded is unsafe.

Exactly one embedder works on a database at a time, across processes and nodes: it holds the `embed`
job (store/jobs.py: on SQLite an exclusive `flock` on `<db>.indexes/embedder.lock`, on PostgreSQL an
advisory lock that dies with its holder's session, so another node takes over) while it has a backlog
(`paperfeed index` takes the same claim through `Paperfeed.embed`).  When there is nothing to embed it
releases the lock and polls the store's change counter, so papers ingested later (a submit, an ingest) are picked up.

Crash-safety costs nothing extra: embeddings are committed per chunk, keyed by content hash in
the store, and the vector index is derived from them (it records the store `seq` it applied), so
a restart simply continues with what is still missing.

Progress goes to `<db>.indexes/embedder.json` (written atomically after every chunk), which any
process (every web worker) reads for the status page; `pid` tells whether the writer still lives.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paperfeed import diskio, process_settings
from paperfeed.config import MODEL_NAME, locate
from paperfeed.store import jobs

log = logging.getLogger(__name__)

CHUNK = 256  # papers per committed chunk: small, so the newest papers become searchable quickly
SYNC_EVERY = 10.0  # seconds between vector-index saves while a backlog lasts (a save rewrites the whole file)
POLL = 2.0  # seconds between looks at the store's change counter when there is nothing to embed
PAUSE = 0.05  # seconds yielded to other processes between chunks
NICE = 10


class EmbedderBusy(RuntimeError):
    """Another process is embedding this database."""


def lock_path(db_path: Any) -> Path:
    return locate(db_path).embedder_lock


def progress_path(db_path: Any) -> Path:
    return locate(db_path).embedder_progress


@contextlib.contextmanager
def embed_lock(db_path: Any, blocking: bool = True) -> Iterator[None]:
    """The one-embedder-per-database claim (store/jobs.py: an flock on SQLite, an advisory lock on PostgreSQL,
    so one node of several embeds); raises `EmbedderBusy` when `blocking` is False and it is held."""
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(jobs.claim(locate(db_path), jobs.EMBED, blocking=blocking))
        except jobs.JobBusy:
            raise EmbedderBusy(f"another process is embedding {locate(db_path).display}") from None
        yield


def lock_held(db_path: Any) -> bool:
    """True when some process (on any node) holds the embed claim (probed, released at once)."""
    return jobs.held(locate(db_path), jobs.EMBED)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_progress(db_path: Path) -> dict[str, Any]:
    """The last progress record, with `running` (its writer is alive and not stopped); {} if none."""
    try:
        rec = json.loads(progress_path(db_path).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(rec, dict):
        return {}
    rec["running"] = rec.get("state") not in ("stopped", "failed") and _pid_alive(int(rec.get("pid", 0) or 0))
    return rec


class _Stopped(Exception):
    pass


@dataclass
class EmbedRun:
    """One pass over the backlog: what it did, for callers and tests."""

    embedded: int = 0
    chunks: int = 0
    order: list[str] | None = None  # content hashes in the order they were committed (tests check newest-first)


class BackgroundEmbedder:
    """Embeds missing papers of one database in chunks and keeps its vector index in step."""

    def __init__(self, db_path: Any, stop: threading.Event | Any | None = None, *, chunk: int | None = None,
                 sync_every: float = SYNC_EVERY, poll: float = POLL, threads: int = 1, record_order: bool = False):
        from paperfeed.core import Paperfeed

        self.pf = Paperfeed(db_path)  # settings, a location, or a database path
        self.db_path = self.pf.location
        self.stop = stop if stop is not None else threading.Event()
        self.chunk = chunk or self.pf.settings.embed_chunk
        self.sync_every, self.poll, self.threads = sync_every, poll, threads
        self.record_order = record_order
        self._embedder = None

    def close(self) -> None:
        self.pf.close()

    # -- progress ---------------------------------------------------------------------------------

    def _write_progress(self, state: str, **facts: Any) -> None:
        rec = {"pid": os.getpid(), "state": state, "updated": time.time(), "chunk": self.chunk, **facts}
        diskio.atomic_write_text(progress_path(self.db_path), json.dumps(rec))

    # -- work -------------------------------------------------------------------------------------

    def _model(self):  # type: ignore[no-untyped-def]
        if self._embedder is None:
            from paperfeed.search.embedder import Embedder

            self._embedder = Embedder(threads=self.threads)
        return self._embedder

    def _check_stop(self, _done: int = 0) -> None:
        if self.stop.is_set():
            raise _Stopped

    def run_backlog(self, blocking: bool = True) -> EmbedRun:
        """Embed everything missing now (newest first), syncing the vector index as it goes.

        Holds the embed lock for the whole pass; raises `EmbedderBusy` if `blocking` is False and
        another process has it.  Returns early (without error) when `stop` is set.
        """
        from paperfeed.models import embedding_text

        run = EmbedRun(order=[] if self.record_order else None)
        store, semantic = self.pf.store, self.pf.engine.semantic
        with embed_lock(self.db_path, blocking=blocking):
            # Say at once who holds the lock: loading the model can take a minute on loaded cores, and a
            # `paperfeed index` that waits meanwhile names this process (cli/index_wait.py).
            self._write_progress("embedding", run_embedded=0)
            started, last_sync = time.monotonic(), time.monotonic()
            try:
                while not self.stop.is_set():
                    todo = store.missing_embeddings(MODEL_NAME, self.chunk)
                    if not todo:
                        break
                    vecs = self._model().embed([embedding_text(t, a) for _h, t, a in todo],
                                               progress=self._check_stop)
                    store.put_embeddings(MODEL_NAME, zip((h for h, _t, _a in todo), vecs, strict=True))
                    run.embedded += len(todo)
                    run.chunks += 1
                    if run.order is not None:
                        run.order.extend(h for h, _t, _a in todo)
                    if time.monotonic() - last_sync >= self.sync_every:
                        semantic.sync(store)
                        last_sync = time.monotonic()
                    rate = run.embedded / max(time.monotonic() - started, 1e-9)
                    self._write_progress("embedding", run_embedded=run.embedded, rate=rate)
                    time.sleep(PAUSE)  # let the web workers have the cores for a moment
            except _Stopped:
                pass
            if run.embedded or not semantic.is_fresh(store):
                semantic.sync(store)
        return run

    def run_forever(self) -> None:
        """Work through the backlog, then watch the store for new papers, until `stop` is set."""
        store = self.pf.store
        seen = -1
        self._write_progress("starting")
        try:
            while not self.stop.is_set():
                seq = store.current_seq()
                if seq != seen:
                    if lock_held(self.db_path):
                        self._write_progress("waiting")  # another process (or node) embeds this database
                        while not self.stop.is_set() and lock_held(self.db_path):  # until it is done or dies
                            self.stop.wait(self.poll)
                        continue
                    try:
                        run = self.run_backlog(blocking=False)
                    except EmbedderBusy:
                        continue
                    if self.stop.is_set():
                        break
                    seen = seq if not run.embedded else -1  # after work, look once more
                    self._write_progress("idle")
                self.stop.wait(self.poll)
        except Exception as e:
            self._write_progress("failed", error=f"{type(e).__name__}: {e}")
            raise
        self._write_progress("stopped")


# -- the child process ------------------------------------------------------------------------------


class PipeStop:
    """The child's stop flag: set by the parent through a pipe, by SIGTERM, or by the parent's death.

    A pipe rather than `multiprocessing.Event`: an Event's internal lock can be left held by a
    waiter that was killed (SIGKILL), and the parent's `set()` would then hang forever.  A closed
    pipe (the parent died) also stops the child, so it never outlives its server.
    """

    def __init__(self, conn: Any):
        self._conn = conn
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self.wait(0)

    def wait(self, timeout: float | None = None) -> bool:
        if not self._set:
            try:
                if self._conn.poll(timeout):
                    self._set = True
            except (EOFError, OSError):
                self._set = True
        return self._set


def _child_main(db_path: Any, conn: Any) -> None:  # runs in the spawned process
    import signal

    stop = PipeStop(conn)
    # Ctrl-C reaches the whole process group: the parent decides when we stop (it writes to the
    # pipe); a SIGTERM sent to us alone stops us the same clean way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    threads = getattr(db_path, "embed_threads", 0) or background_threads()  # Settings carry it; else the env
    process_settings.set_defaults({"OMP_NUM_THREADS": str(threads)})
    with contextlib.suppress(OSError):
        os.nice(NICE)
    logging.basicConfig(level=logging.WARNING, format="embedder: %(message)s")
    bg = BackgroundEmbedder(db_path, stop, threads=threads)
    try:
        bg.run_forever()
    finally:
        bg.close()


class EmbedderProcess:
    """Runs `BackgroundEmbedder.run_forever` in a child process, restarts it if it dies, stops it on request."""

    def __init__(self, db_path: Any, restart_delay: float = 5.0):
        self.db_path = db_path  # settings, a location or a database path: handed to the child as it is
        self.restart_delay = restart_delay
        self._ctx = mp.get_context("spawn")
        self._stop_tx: Any = None
        self._proc: Any = None
        self._closing = threading.Event()
        self._watcher: threading.Thread | None = None
        self.restarts = 0

    def _spawn(self) -> None:
        rx, tx = self._ctx.Pipe(duplex=False)
        self._proc = self._ctx.Process(target=_child_main, args=(self.db_path, rx),
                                       name="paperfeed-embedder", daemon=True)
        self._proc.start()
        rx.close()  # the child holds the only read end: our close of tx (or our death) reaches it
        if self._stop_tx is not None:
            self._stop_tx.close()
        self._stop_tx = tx

    def _watch(self) -> None:
        """Restart a child that died (a crash: stop was not asked); it continues where it was."""
        delay = self.restart_delay
        while not self._closing.is_set():
            self._proc.join(timeout=0.5)
            if self._proc.is_alive() or self._closing.is_set():
                continue
            log.error("background embedder exited with code %s; restarting in %.0f s", self._proc.exitcode, delay)
            if self._closing.wait(delay):
                return
            self.restarts += 1
            delay = min(delay * 2, 300.0)
            self._spawn()

    def start(self) -> EmbedderProcess:
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="paperfeed-embedder-watch", daemon=True)
        self._watcher.start()
        return self

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the child to stop after its current batch, wait for it, and end it if it does not."""
        self._closing.set()
        if self._watcher is not None:
            self._watcher.join(5)
        if self._stop_tx is not None:
            with contextlib.suppress(OSError):
                self._stop_tx.send_bytes(b"stop")
        if self._proc is not None:
            self._proc.join(timeout)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(5)
        if self._stop_tx is not None:
            self._stop_tx.close()


def background_threads(env: Mapping[str, str] | None = None) -> int:
    """Intra-op threads of the background embedder: `PAPERFEED_EMBED_THREADS`, else every CPU this process
    may use (the child is niced, so the server still wins a contended core)."""
    from paperfeed.search.embedder import available_cpus

    raw = (env if env is not None else process_settings.environ()).get("PAPERFEED_EMBED_THREADS", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return available_cpus()

