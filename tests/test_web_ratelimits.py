"""Rate limits kept in the store: exact across worker processes, and expired rather than wiped.

The multi-worker test runs the real `paperfeed serve --workers 3` and fires a burst of concurrent sign-ups
from one address: exactly the configured burst (5) gets through, however the requests spread over the
workers.  (Before, each worker enforced its own in-memory 1/N share: 6 got through with 6 workers.)
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from smtp_servers import Sink, free_port, smtp_server

from paperfeed.store import ratelimits
from paperfeed.store.papers import Store
from paperfeed.web.security import RateLimiter
from paperfeed.web.settings import DEFAULT_RATE_LIMITS

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    d = tmp_path_factory.mktemp("workers")
    sink = Sink()
    with smtp_server(sink) as smtp:
        port = free_port()
        env = {**os.environ, "PAPERFEED_DB": str(d / "p.db"), "PAPERFEED_ARXIV_API": "", "PAPERFEED_SECRET": "w",
               "PAPERFEED_SMTP_PORT": str(smtp.port), "PAPERFEED_DIGEST_INTERVAL": "0",
               "PAPERFEED_EMBED_IN_BACKGROUND": "0"}
        with open(d / "serve.log", "w") as log:
            proc = subprocess.Popen([sys.executable, "-m", "paperfeed.cli.main", "serve", "--port", str(port),
                                     "--workers", "3", "--no-embed"], env=env, stdout=subprocess.DEVNULL, stderr=log)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                assert proc.poll() is None, (d / "serve.log").read_text()
                assert time.monotonic() < deadline, "the server did not start"
                try:
                    if httpx.get(base + "/signup", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            yield base, sink, d / "serve.log"
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)


def _one_signup(base: str, i: int) -> int:
    with httpx.Client(base_url=base, timeout=120) as c:  # a new connection each: spread over the workers
        token = _CSRF.search(c.get("/signup").text).group(1)
        return c.post("/signup", data={"email": f"burst{i}@example.org", "password": "correct horse battery",
                                       "csrf_token": token}).status_code


def test_burst_of_signups_over_three_workers_lets_exactly_the_burst_through(served):
    base, sink, log = served
    burst = DEFAULT_RATE_LIMITS["signup"][0]
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda i: _one_signup(base, i), range(16)))
    assert sorted(codes) == [200] * burst + [429] * (16 - burst), (codes, log.read_text()[-2000:])
    assert len({rcpt for r in sink.received for rcpt in r.rcpt_tos}) == burst  # one email per accepted sign-up
    assert "Traceback" not in log.read_text()


def test_refilled_buckets_expire_and_live_ones_are_never_wiped(tmp_path):
    store = Store.open(tmp_path / "rl.db")
    rl = RateLimiter({"login": (2, 1.0)}, store)
    assert rl.allow("login", "brute", now=0.0) and rl.allow("login", "brute", now=0.0)
    assert not rl.allow("login", "brute", now=0.0)
    for i in range(300):  # a flood of other addresses, long ago: their buckets have refilled by t=1000
        assert rl.allow("login", f"flood{i}", now=-1000.0)
    assert ratelimits.expire_buckets(store, now=0.5) == 300  # refilled ones go; the brute-forcer's stays
    assert ratelimits.bucket_count(store) == 1
    assert not rl.allow("login", "brute", now=0.5)  # still empty: nothing reset it
    assert rl.allow("login", "brute", now=1.0)
    store.close()
