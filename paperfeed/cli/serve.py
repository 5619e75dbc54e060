"""`paperfeed serve`: start the background jobs, the web workers, and say so in a start-up log that
reads as what it is, one line per thing started and "running on …" only once a request is answered.

What the log used to show, and why:
- "Uvicorn running on http://…" came from uvicorn's multi-worker supervisor when it *bound* the socket,
  before any worker had started listening: connections were refused until the workers had imported
  paperfeed and built their app (2.9 s on an idle machine, 10 s measured with one other busy process,
  more while the first ingest runs beside them).  Now uvicorn's own start-up lines are not shown
  (its `uvicorn.error` logger is at WARNING; real errors still appear) and a thread of this process
  prints "running on" when `GET /api/status` first answers 200.
- "Child process [N] died": the supervisor pings each worker and kills one that does not answer within
  `timeout_worker_healthcheck` (5 s by default).  A worker answers only once its spawn-time imports are
  done, so on 2 loaded cores a healthy worker that was still starting was killed and restarted, again
  and again: the "crash" and the 30 s of refused connections.  The timeout is 60 s here
  (WORKER_HEALTHCHECK_S): a worker that is really stuck is still replaced, just later.
- The embedding model's "Loading weights" progress bar: silenced process-wide (cli/quiet.py).
"""

from __future__ import annotations

import copy
import http.client
import logging
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from paperfeed.core import Paperfeed

WORKER_HEALTHCHECK_S = 60
READY_POLL_S = 0.1


def uvicorn_log_config(access_log: bool) -> dict:
    """uvicorn's logging, with its start-up chatter (`uvicorn.error` INFO) hidden; requests are still
    logged when `--access-log` asks for them."""
    from uvicorn.config import LOGGING_CONFIG

    cfg = copy.deepcopy(LOGGING_CONFIG)
    cfg["loggers"]["uvicorn.error"]["level"] = "WARNING"
    cfg["loggers"]["uvicorn.access"]["level"] = "INFO" if access_log else "WARNING"
    return cfg


def _probe_host(host: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)


def answers(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when the site answers `GET /api/status` with 200 (the request any worker can serve at once)."""
    conn = http.client.HTTPConnection(_probe_host(host), port, timeout=timeout)
    try:
        conn.request("GET", "/api/status", headers={"Host": f"{_probe_host(host)}:{port}"})
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def site_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}"
    if host in ("0.0.0.0", "::", ""):
        url += f" (all interfaces; on this machine http://{_probe_host(host)}:{port})"
    return url


class ReadyAnnouncer(threading.Thread):
    """Prints "running on URL" once the site answers a request; nothing if the server stops first."""

    def __init__(self, host: str, port: int, workers: int, err: Console):
        super().__init__(name="paperfeed-ready", daemon=True)
        self.host, self.port, self.workers, self.err = host, port, workers, err
        self.stopped = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while not self.stopped.is_set():
            if answers(self.host, self.port):
                took = time.monotonic() - started
                who = f"{self.workers} worker processes" if self.workers > 1 else "1 process"
                self.err.print(f"running on {site_url(self.host, self.port)}/papers ({who}, ready in {took:.1f} s)",
                               markup=False, highlight=False)
                self.ready.set()
                return
            self.stopped.wait(READY_POLL_S)


def _log_to_stderr() -> None:
    """paperfeed's own log lines (background ingest done, digest runs, errors) as plain lines on stderr."""
    logger = logging.getLogger("paperfeed")
    if not any(getattr(h, "_paperfeed_serve", False) for h in logger.handlers):
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(message)s"))
        h._paperfeed_serve = True  # type: ignore[attr-defined]
        logger.addHandler(h)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def serve_site(pf: Paperfeed, *, host: str, port: int, workers: int | None, embed: bool, access_log: bool,
               err: Console) -> None:
    from functools import partial

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from paperfeed.config import MODEL_NAME
    from paperfeed.mail.runner import start_scheduler  # `digest run` every $PAPERFEED_DIGEST_INTERVAL min
    from paperfeed.search.background import EmbedderProcess
    from paperfeed.search.embedder import available_cpus
    from paperfeed.web import create_app
    from paperfeed.web.bootstrap import create_worker_app, start_background_ingest

    _log_to_stderr()
    if not embed:
        pf.settings = pf.settings.with_(embed_in_background=False)  # the status page (in every worker) says "off"
    pf.refresh_keyword_index()  # catch up before the first request rather than during it
    papers = pf.store.count()
    err.print(f"database {pf.location.display} ({papers:,} papers)", markup=False, highlight=False)
    sources = list(pf.settings.sources)
    if start_background_ingest(pf, sources):
        names = ", ".join(Path(s).name for s in sources)
        err.print(f"background ingest started: {names} into the empty database (papers appear when it "
                  "commits; progress on /status)", markup=False, highlight=False)
    elif papers == 0:
        err.print("the database is empty: add papers with `paperfeed ingest FILE` or set $PAPERFEED_SOURCES",
                  markup=False, highlight=False)
    scheduler = start_scheduler(pf)
    if scheduler is not None:
        err.print(f"digest scheduler started: `digest run` every {scheduler.minutes:g} min", markup=False,
                  highlight=False)
    from paperfeed.discussion.sender import start_sender  # replies' and mentions' emails, in the background
    from paperfeed.store.secret import site_secret

    notifier = start_sender(pf.store, pf.settings.mail, pf.settings.secret or site_secret(pf.store))
    if notifier is not None:
        err.print("notification sender started: reply and mention emails in the background", markup=False,
                  highlight=False)
    embedder = EmbedderProcess(pf.settings).start() if pf.settings.embed_in_background else None
    if embedder is not None:
        todo = papers - pf.store.count_embedded(MODEL_NAME)
        err.print(f"background embedder started (pid {embedder.pid}): {todo:,} of {papers:,} papers to embed, "
                  "newest first (progress on /status)", markup=False, highlight=False)
    n = workers or available_cpus()
    # uvloop + httptools: the fastest event loop and HTTP parser uvicorn has (both installed with paperfeed).
    # Request heads and bodies are bounded in size and time (web/limits.py: its protocol and middleware).
    from paperfeed.web.limits import server_options

    opts = {"host": host, "port": port, "log_level": None, "log_config": uvicorn_log_config(access_log),
            "access_log": access_log, "proxy_headers": False, "loop": "uvloop",
            "timeout_worker_healthcheck": WORKER_HEALTHCHECK_S, **server_options()}
    announcer = ReadyAnnouncer(host, port, n, err)
    announcer.start()
    try:
        if n == 1:
            uvicorn.run(create_app(pf, pf.settings.web), **opts)
        else:
            # Each worker process builds its own app over the same database (bootstrap.create_worker_app); the
            # settings travel as the factory's pickled argument, not through the environment.  This is what
            # uvicorn.run does for an import string, which it requires for workers (uvicorn is pinned).
            config = uvicorn.Config(partial(create_worker_app, pf.settings), factory=True, workers=n, **opts)
            Multiprocess(config, sockets=[config.bind_socket()]).run()
    finally:
        announcer.stopped.set()
        if notifier is not None:
            notifier.stop(5)
        if embedder is not None:
            embedder.stop()
        err.print("stopped", markup=False)
