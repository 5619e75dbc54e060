"""A polite HTTP client for arXiv's export services (the Atom API and OAI-PMH).

arXiv asks harvesters for at most one request every three seconds and uses
`503` + `Retry-After` for flow control; clients that ignore either get blocked.
So every request made through `PoliteClient` (retries included) is spaced by
`interval` seconds, transient failures are retried with exponential backoff, a
server's `Retry-After` always wins over our own backoff, and when we give up the
`IngestError` names the URL and the last status so the operator knows what broke.

Clock and sleep are injectable so tests can check the waiting logic without
waiting, while the real network path is still exercised against a local server.
"""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC
from types import TracebackType

import httpx

from paperfeed import __version__
from paperfeed.ingestion.errors import IngestError, Location

log = logging.getLogger(__name__)

#: Statuses that mean "try again later" rather than "your request is wrong".
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

DEFAULT_USER_AGENT = f"paperfeed/{__version__} (self-hosted paper discovery; polite harvester)"

QueryParams = Mapping[str, str | int]


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait according to a `Retry-After` header, or None if absent/unparseable.

    The header may be delta-seconds (`120`) or an HTTP date; `now` is the current
    wall-clock time (epoch seconds) needed to turn a date into a delay.  Dates in
    the past mean "now" (0), not a negative sleep.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT by definition
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


class PoliteClient:
    """Rate-limited, retrying GET client; one instance should be shared per remote host.

    `interval` is the minimum gap between the end of one request (response
    received or connection failed) and the start of the next.  Measuring from the
    end rather than the start guarantees the *server* sees arrivals at least
    `interval` apart whatever the latency, and slow responses are not followed
    by an instant burst.  Retries follow `backoff * 2**attempt`
    (capped at `max_backoff`) unless the server sent `Retry-After`, which is
    honoured exactly; a `Retry-After` beyond `max_retry_after` is treated as
    "come back much later" and we give up at once instead of hanging a worker.
    """

    def __init__(
        self,
        *,
        interval: float = 3.0,
        max_retries: int = 5,
        backoff: float = 2.0,
        max_backoff: float = 120.0,
        max_retry_after: float = 600.0,
        timeout: float = 60.0,
        user_agent: str = DEFAULT_USER_AGENT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_time: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if interval < 0 or max_retries < 0 or backoff < 0:
            raise ValueError("interval, max_retries and backoff must be >= 0")
        self.interval = interval
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self._clock = clock
        self._sleep = sleep
        self._wall_time = wall_time
        self._last_done: float | None = None
        # Harvests may share one client across threads; the lock keeps the spacing global.
        self._lock = threading.Lock()
        self._http = httpx.Client(
            timeout=timeout,
            follow_redirects=True,  # export.arxiv.org redirects old OAI URLs to the new base
            headers={"User-Agent": user_agent},
            transport=transport,
        )

    # -- context management -------------------------------------------------------------------------

    def close(self) -> None:
        """Release pooled connections."""
        self._http.close()

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- requests -----------------------------------------------------------------------------------

    def _wait_turn(self) -> None:
        """Sleep until `interval` has passed since the previous request finished."""
        if self._last_done is not None:
            remaining = self._last_done + self.interval - self._clock()
            if remaining > 0:
                self._sleep(remaining)

    def _delay_for(self, attempt: int, retry_after: float | None) -> float:
        """Backoff before retry number `attempt + 1`; the server's Retry-After takes precedence."""
        if retry_after is not None:
            return retry_after
        return min(self.max_backoff, self.backoff * (2**attempt))

    def get(self, url: str, params: QueryParams | None = None) -> httpx.Response:
        """GET `url`, returning a 2xx response or raising `IngestError` naming the URL and status.

        4xx other than 429 are not retried: repeating a bad request only burns
        the server's patience.  Connection errors and timeouts are retried like 503s.
        """
        request_url = str(httpx.URL(url).copy_merge_params(dict(params)) if params else httpx.URL(url))
        with self._lock:
            attempt = 0
            while True:
                self._wait_turn()
                retry_after: float | None = None
                try:
                    response = self._http.get(request_url)
                except httpx.TransportError as exc:
                    self._last_done = self._clock()
                    problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                else:
                    self._last_done = self._clock()
                    if response.is_success:
                        return response
                    problem = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
                    if response.status_code not in RETRY_STATUSES:
                        raise IngestError(f"GET {request_url} failed: {problem}", Location(request_url))
                    retry_after = parse_retry_after(response.headers.get("Retry-After"), self._wall_time())
                    if retry_after is not None and retry_after > self.max_retry_after:
                        raise IngestError(
                            f"GET {request_url} failed: {problem}; server asked to retry after "
                            f"{retry_after:.0f}s (more than max_retry_after={self.max_retry_after:.0f}s)",
                            Location(request_url),
                        )
                if attempt >= self.max_retries:
                    raise IngestError(
                        f"GET {request_url} failed after {attempt + 1} attempts: {problem}",
                        Location(request_url),
                    )
                delay = self._delay_for(attempt, retry_after)
                log.warning("GET %s: %s; retrying in %.1fs (retry %d/%d)", request_url, problem, delay,
                            attempt + 1, self.max_retries)
                if delay > 0:
                    self._sleep(delay)
                attempt += 1

    def get_bytes(self, url: str, params: QueryParams | None = None) -> tuple[bytes, str]:
        """Body and final URL (after redirects) of a successful GET; parsers want both for locations."""
        response = self.get(url, params)
        return response.content, str(response.url)

