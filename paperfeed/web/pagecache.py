"""Rendered pages for anonymous visitors, cached until the data under them changes.

A cached page is keyed by its URL plus the database's data version: the store's change counter
(`Store.current_seq`: any paper or embedding written) and a community version (votes and submissions: their
counts and newest stamps), so a page is never served stale: the first request after any change renders
afresh (on PostgreSQL, after a change made by another node: within `VERSION_TTL`, see `data_version`).
Pages that rank by time-decayed votes (trending) add the current minute to their key.

Only anonymous visitors share pages: the one per-visitor value in them, the CSRF token of the
upvote forms, is rendered as a placeholder and filled in per response.  Signed-in members (their
own upvotes, their name) always get a fresh render.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from paperfeed.store import community as community_sql
from paperfeed.store import discussion as discussion_sql
from paperfeed.store import people as people_sql
from paperfeed.store.papers import Store

# Per process and random: paper text cannot hold it (a fixed "\x00csrf\x00" could be planted in a title or a
# link, and then printed each visitor's CSRF token there).  Each worker has its own cache, so its own value.
CSRF_PLACEHOLDER = f"pf-csrf-{secrets.token_hex(16)}"
MAX_PAGES = 512
T = TypeVar("T")


def community_version(store: Store) -> tuple:
    """Changes whenever a vote or a submission is added or removed (one cheap, indexed query)."""
    return community_sql.community_version(store)


VERSION_TTL = 0.5  # seconds a PostgreSQL node reuses the data version it read (writes of its own refresh it at once)
_versions: dict[int, tuple[int, float, tuple]] = {}  # id(store) -> (store.writes, read at, version)


def _read_version(store: Store) -> tuple:
    return (store.current_seq(), *community_version(store), *discussion_sql.discussion_version(store),
            *people_sql.people_version(store))  # claimed authors link to profiles on every card


def data_version(store: Store) -> tuple:
    """Everything a listing page depends on besides its URL, read from the database, so it changes with writes
    made by any process or node.  On SQLite it is read on every request (two indexed queries on a local file).
    On PostgreSQL each is a network round trip, so a process reuses what it read for up to VERSION_TTL
    seconds, unless it wrote since: another node's write shows within 0.5 s, its own at once."""
    if store.path is not None:
        return _read_version(store)
    now = time.monotonic()
    got = _versions.get(id(store))
    if got is not None and got[0] == store.writes and now - got[1] < VERSION_TTL:
        return got[2]
    writes = store.writes  # read before the queries: a write racing with them makes the next call re-read
    version = _read_version(store)
    _versions[id(store)] = (writes, now, version)
    return version


class PageCache:
    def __init__(self, size: int = MAX_PAGES):
        self.size = size
        self._pages: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def peek(self, key: Hashable) -> Any | None:
        """The cached value, or None (no rendering)."""
        with self._lock:
            value = self._pages.get(key)
            if value is not None:
                self._pages.move_to_end(key)
                self.hits += 1
            return value

    def get_or_render(self, key: Hashable, render: Callable[[], T]) -> T:
        html = self.peek(key)
        if html is not None:
            return html
        html = render()  # outside the lock: two concurrent misses both render, and agree
        with self._lock:
            self.misses += 1
            self._pages[key] = html
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)
        return html
