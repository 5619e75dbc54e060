"""Bounded input: request heads and bodies that are too big or too slow are refused before they cost much.

Why: bodies used to be read whole before anything looked at them (one 300 MB POST to /api/submissions
with no token took a worker to ~1 GB before its 401), and uvicorn has no timer on a request head at all (a
client sending one header byte every few seconds held a connection for ever: slowloris).  Three guards:

- `RequestGuard`, an ASGI middleware outside everything, with a body limit per route (`BODY_LIMITS`):
  a `Content-Length` over it is a 413 before the app runs; a chunked body is counted as it arrives and
  cut at the limit; a body must arrive whole within `body_timeout` seconds, else 408.  (Not FastAPI's
  own `max_body_size`: its 413 is plain text whatever the route, and it has no timer.)
- `GuardedHttpToolsProtocol`, uvicorn's httptools protocol with a deadline on the request head
  (`HEAD_TIMEOUT` from the first byte, or from the end of the previous response on a kept-alive
  connection) and a cap on its size (`MAX_HEAD_BYTES`): 408 / 431 and the connection is closed.
  (uvicorn's `h11_max_incomplete_event_size` does this for its h11 parser only; paperfeed serves with
  httptools, the faster one.)
"""

from __future__ import annotations

import asyncio
import html
import json
import time
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

KIB = 1024
# Bytes of request body each group of routes accepts (README "Hostile input and limits").
BODY_LIMITS: dict[str, int] = {
    "default": 1 * KIB,  # pages, feeds, static files, GET API reads: no body expected
    "json_api": 8 * KIB,  # POST /api/submissions ({"paper": ≤500 chars, "day"}), /api/papers/{id}/upvote
    "forms": 32 * KIB,  # sign-up, log-in, submit, tokens, subscribe, preferences (a saved search ≤ 1,000 chars)
    # POST /import (web/library_import.py): a library export; Zotero's BibTeX of 1,000 papers with abstracts
    # is about 1.5 MB.
    "library_import": 2 * KIB * KIB,
}
BODY_TIMEOUT = 20.0  # seconds for a whole body (32 KiB at 1.6 KB/s)
HEAD_TIMEOUT = 10.0  # seconds for a request line and headers
MAX_HEAD_BYTES = 32 * KIB  # request line + headers (nginx's default large_client_header_buffers is 4 x 8 KiB)
CLOSE = {"Connection": "close"}


def body_limit(method: str, path: str) -> int:
    """The body limit of one route: JSON API writes, form posts, everything else (which takes no body)."""
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        if path == "/import":
            return BODY_LIMITS["library_import"]
        if path.startswith("/api/comments/") or (path.startswith("/api/papers/") and path.endswith("/comments")):
            return BODY_LIMITS["forms"]  # a comment: up to 4,000 characters, JSON-escaped
        return BODY_LIMITS["json_api"] if path.startswith("/api/") else BODY_LIMITS["forms"]
    return BODY_LIMITS["default"]


class RequestGuard:
    """Bodies bounded in size per route and in time: an ASGI middleware outside the whole app.

    A declared `Content-Length` over the route's limit is refused before the app runs (nothing read);
    a body without one (chunked) is counted as it arrives and refused the moment it passes the limit
    (`HTTPException(413)`, raised inside the app's read so its handlers render JSON or a page); a body
    not in whole within `body_timeout` seconds of the first read is a 408.  A 408 or 413 closes the
    connection, so the unread rest of a body is never read.
    """

    def __init__(self, app: ASGIApp, body_timeout: float = BODY_TIMEOUT):
        self.app = app
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["method"], scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await self._refuse(scope, send, 400, "Content-Length is not a number")
                return
            if int(declared) > limit:
                await self._refuse(scope, send, 413, f"request body over {limit:,} bytes (the limit here)")
                return
        deadline: float | None = None
        received = 0
        done = False

        async def guarded_receive() -> Message:
            nonlocal deadline, received, done
            if done:  # the body is in: later reads wait for a disconnect, for as long as the response takes
                return await receive()
            now = time.monotonic()
            deadline = deadline or now + self.body_timeout
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - now))
            except TimeoutError:
                raise HTTPException(408, f"request body not received within {self.body_timeout:g} s",
                                    headers=CLOSE) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                done = True
            received += len(message.get("body", b""))
            if received > limit:
                done = True
                raise HTTPException(413, f"request body over {limit:,} bytes (the limit here)", headers=CLOSE)
            return message

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (408, 413):
                MutableHeaders(scope=message)["connection"] = "close"  # never read the rest of that body
            await send(message)

        await self.app(scope, guarded_receive, send_closing)

    @staticmethod
    async def _refuse(scope: Scope, send: Send, status: int, reason: str) -> None:
        """Answer without running the app: JSON for machine clients (as app.py's handlers do), else a page."""
        if scope["path"].startswith(("/api/", "/feeds/")):
            body, ctype = json.dumps({"detail": reason}).encode(), b"application/json"
        else:
            title = {400: "Bad request", 413: "Content too large"}[status]
            body = (f"<!doctype html><title>{title} · paperfeed</title><h1>{title}</h1>"
                    f"<p>{html.escape(reason)}</p>").encode()
            ctype = b"text/html; charset=utf-8"
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", ctype), (b"connection", b"close"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus a deadline and a size cap on each request head."""

    head_timeout: float = HEAD_TIMEOUT
    max_head_bytes: int = MAX_HEAD_BYTES

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm_head()

    def _arm_head(self) -> None:
        self._disarm_head()
        self._head_bytes = 0
        self._in_head = True
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_expired)

    def _disarm_head(self) -> None:
        self._in_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _refuse(self, status: bytes, message: bytes) -> None:
        self._disarm_head()
        if not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
                                 b"content-length: " + str(len(message)).encode() + b"\r\n"
                                 b"connection: close\r\n\r\n" + message)
            self.transport.close()

    def _head_expired(self) -> None:
        self._head_timer = None
        if self.cycle is None or self.cycle.response_complete:  # not inside a request: nothing to wait for
            self._refuse(b"408 Request Timeout", b"request head not received in time")

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.max_head_bytes:
            self._refuse(b"431 Request Header Fields Too Large", b"request head too large")

    def on_headers_complete(self) -> None:
        self._disarm_head()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._arm_head()  # the next request's head (uvicorn's keep-alive timer also runs, for idle time)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head()
        super().connection_lost(exc)


def server_options() -> dict[str, Any]:
    """uvicorn options `paperfeed serve` and the test server share (so tests meet the real limits)."""
    return {"http": "paperfeed.web.limits:GuardedHttpToolsProtocol", "timeout_keep_alive": 5}
