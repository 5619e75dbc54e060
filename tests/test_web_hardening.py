"""Issue 8 against the real server (uvicorn on 127.0.0.1 with paperfeed's own protocol and middleware):
bounded bodies and heads, slow clients cut off, hosts checked, HEAD answered, costly reads cached and limited.

Raw sockets where httpx would hide what is tested (a head sent byte by byte, a chunked body that never ends).
Every wait has a generous guard (`GUARD` seconds) that is there so a regression fails instead of hanging; no
test asserts how fast anything happened, only what happened.
"""

from __future__ import annotations

import json
import re
import select
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import make_site_pf

from paperfeed.web import WebSettings, create_app
from paperfeed.web.limits import BODY_LIMITS, GuardedHttpToolsProtocol
from paperfeed.web.testing import serve_in_thread

GUARD = 60.0


class QuickHeads(GuardedHttpToolsProtocol):
    head_timeout = 1.0  # the production value is 10 s; the behaviour is the same


@pytest.fixture(scope="module")
def pf(tmp_path_factory):
    pf = make_site_pf(tmp_path_factory.mktemp("hardening"))
    yield pf
    pf.close()


@pytest.fixture(scope="module")
def base(pf):
    settings = WebSettings(secret="hardening-secret", arxiv_api_url=None, body_timeout=1.0,
                           base_url="https://papers.example.org")
    with serve_in_thread(create_app(pf, settings), http=QuickHeads) as url:
        yield url


def connect(base: str) -> socket.socket:
    u = urlsplit(base)
    s = socket.create_connection((u.hostname, u.port), timeout=GUARD)
    return s


def read_response(s: socket.socket) -> tuple[int, dict[str, str], bytes, bool]:
    """(status, headers, body, closed): reads until the server closes the connection (or GUARD passes)."""
    data = b""
    deadline = time.monotonic() + GUARD
    closed = False
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            closed = True
            break
        except TimeoutError:
            break
        if not chunk:
            closed = True
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0]) if lines and lines[0] else None
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    return (int(m.group(1)) if m else 0), headers, body, closed


def send_slowly(s: socket.socket, data: bytes, pause: float = 0.2) -> bool:
    """Send `data` a byte at a time (for at most GUARD seconds); True when the server answered or hung up
    before the end."""
    deadline = time.monotonic() + GUARD
    for i in range(len(data)):
        if select.select([s], [], [], 0)[0] or time.monotonic() > deadline:
            return time.monotonic() <= deadline
        try:
            s.sendall(data[i : i + 1])
        except (BrokenPipeError, ConnectionResetError):
            return True
        time.sleep(pause)
    return False


# -- bodies ------------------------------------------------------------------------------------------------


def test_a_declared_300_mb_body_is_413_before_any_of_it_is_read(base):
    with connect(base) as s:
        s.sendall(b"POST /api/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 300000000\r\n\r\n")  # and not a byte of the body
        status, headers, body, closed = read_response(s)
    assert status == 413 and headers.get("connection") == "close" and closed
    assert "detail" in json.loads(body)


def test_a_chunked_body_is_counted_as_it_arrives_and_cut_at_the_limit(base):
    chunk = b"x" * 4096
    sent = 0
    with connect(base) as s:
        s.sendall(b"POST /api/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        while sent < 8 * 1024 * 1024 and not select.select([s], [], [], 0.01)[0]:
            try:
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        status, headers, _, closed = read_response(s)
    assert status == 413 and closed
    assert sent < 8 * 1024 * 1024  # refused long before the 8 MB this client was ready to send


def test_limits_are_per_route(base):
    """10 KiB is over the JSON API's limit and under the forms' one."""
    size = 10 * 1024
    assert BODY_LIMITS["json_api"] < size < BODY_LIMITS["forms"]
    with httpx.Client(base_url=base, timeout=GUARD) as c:
        api = c.post("/api/submissions", content=json.dumps({"paper": "x" * size}),
                     headers={"Content-Type": "application/json"})
        form = c.post("/login", data={"email": "a@b.cc", "password": "p", "csrf_token": "nope", "pad": "x" * size})
        page = c.request("GET", "/papers", content=b"x" * (BODY_LIMITS["default"] + 1))
    assert api.status_code == 413 and api.json()["detail"]
    assert form.status_code == 403  # read whole and checked: the CSRF token is wrong
    assert page.status_code == 413


def test_a_chunked_body_that_never_ends_is_408_and_closed(base):
    with connect(base) as s:
        s.sendall(b"POST /api/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"pap\r\n")  # then nothing, for ever
        status, headers, _, closed = read_response(s)
    assert status == 408 and headers.get("connection") == "close" and closed


# -- heads -------------------------------------------------------------------------------------------------


def test_a_head_sent_byte_by_byte_is_cut_off_with_408(base):
    head = b"GET /papers HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 4000 + b"\r\n\r\n"
    with connect(base) as s:
        answered_early = send_slowly(s, head)
        status, _, _, closed = read_response(s)
    assert answered_early and status == 408 and closed


def test_a_connection_that_sends_nothing_is_closed(base):
    with connect(base) as s:
        status, _, _, closed = read_response(s)
    assert closed and status == 408


def test_an_endless_head_is_431_and_closed(base):
    with connect(base) as s:
        s.sendall(b"GET /papers HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for i in range(200):  # 200 x 1 KiB headers: far over the 32 KiB a head may have
            try:
                s.sendall(b"X-H%d: %s\r\n" % (i, b"a" * 1024))
            except (BrokenPipeError, ConnectionResetError):
                break
        status, _, _, closed = read_response(s)
    assert status == 431 and closed


def test_keep_alive_still_works_for_ordinary_clients(base):
    with httpx.Client(base_url=base, timeout=GUARD) as c:
        first = c.get("/papers")
        second = c.get("/api/daily_papers", params={"limit": 1})
    assert first.status_code == 200 and second.status_code == 200
