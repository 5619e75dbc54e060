"""Harvest one arXiv category over a date range, page by page, resumably.

Two routes, same output (a stream of `Paper | RecordError`):

* `harvest_oai`: OAI-PMH ListRecords, the interface arXiv wants bulk harvesters
  to use.  Selection is by record *datestamp* (last metadata change), so a range
  yields new papers and also replaced/re-catalogued ones.
* `harvest_api`: the search API, selecting by *submission* date of the first
  version.  Handy for small ranges or backfills of one category.

Both save their position in a `HarvestState` after every page the consumer has
fully taken, so a harvest interrupted by a crash, a Ctrl-C or a server outage
restarts at the page it stopped on instead of re-fetching (and re-costing arXiv)
everything before it.  Delivery is at-least-once: the page being consumed when the
interruption happened is fetched again, which is harmless because the store
merges papers by id.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

from paperfeed import diskio
from paperfeed.ingestion.arxiv_atom import parse_atom
from paperfeed.ingestion.errors import IngestError, Location, RecordError
from paperfeed.ingestion.oai_pmh import OaiError, OaiRecordError, parse_oai
from paperfeed.ingestion.polite_http import PoliteClient
from paperfeed.models import Paper

log = logging.getLogger(__name__)

_CATEGORY = re.compile(r"^[a-z][a-z\-]*(\.[A-Za-z\-]+)?$")

# arXiv archives that are exposed as sub-sets of the `physics` OAI set ("physics:hep-th").
_PHYSICS_ARCHIVES = frozenset({
    "astro-ph", "cond-mat", "gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th", "math-ph", "nlin",
    "nucl-ex", "nucl-th", "physics", "quant-ph",
})
# Archives that are top-level OAI sets of their own.
_TOP_LEVEL_ARCHIVES = frozenset({"cs", "econ", "eess", "math", "q-bio", "q-fin", "stat"})


class HarvestState(Protocol):
    """Where a harvest keeps its position between runs.

    `get` returns None (or `{}`) when there is no saved position; the harvester
    writes `{}` to clear the position once a harvest has completed, so that
    implementations need nothing beyond these two methods.
    """

    def get(self, key: str) -> dict[str, Any] | None: ...

    def set(self, key: str, value: dict[str, Any]) -> None: ...


class JsonFileHarvestState:
    """`HarvestState` in one small JSON file, replaced atomically on every write.

    Writing to a temporary file in the same directory and `os.replace`-ing it means
    a crash mid-write leaves either the old or the new position, never a torn file
    that would make the next run start from scratch.  Safe across threads of one
    process; separate processes sharing a file should not run the same harvest.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._lock = threading.Lock()

    def _load(self) -> dict[str, Any]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as exc:
            location = Location(str(self.path), line=exc.lineno)
            raise IngestError(f"harvest state is not valid JSON: {exc}", location) from exc
        if not isinstance(data, dict):
            raise IngestError("harvest state is not a JSON object", Location(str(self.path)))
        return data

    def get(self, key: str) -> dict[str, Any] | None:
        """Saved value for `key`, or None."""
        with self._lock:
            value = self._load().get(key)
        return dict(value) if isinstance(value, dict) and value else None

    def set(self, key: str, value: dict[str, Any]) -> None:
        """Save `value` under `key`; an empty dict removes the key so finished harvests leave no trace."""
        with self._lock:
            data = self._load()
            if value:
                data[key] = value
            else:
                data.pop(key, None)
            diskio.atomic_write(self.path, lambda fh: json.dump(data, fh, indent=2, sort_keys=True))


def harvest_key(
    endpoint: str, base_url: str, category: str, since: date, until: date | None, *extra: str
) -> str:
    """State key of one harvest: a resumption token is only valid for the exact same request."""
    parts = [endpoint, base_url, category, since.isoformat(), until.isoformat() if until else None, *extra]
    return json.dumps(parts, separators=(",", ":"))


def _check_category(category: str) -> str:
    if not _CATEGORY.match(category):
        raise ValueError(f"not an arXiv category: {category!r} (expected e.g. 'cs.CL' or 'hep-th')")
    return category


def oai_set_spec(category: str) -> str:
    """OAI set that contains `category`: its archive (`cs.CL` -> `cs`, `hep-th` -> `physics:hep-th`).

    arXiv's classic OAI sets are archives, not categories: `cs`, `math`, `stat`, ... and
    the physics archives as `physics:astro-ph`, `physics:cond-mat`, ...  (arXiv's newer
    OAI service also has category sets like `cs:cs:CL`; pass one via `set_spec=` to
    `harvest_oai` if your endpoint supports it.)  Harvesting the archive and filtering
    costs more records per page but works on every arXiv OAI endpoint.
    """
    archive = _check_category(category).split(".", 1)[0]
    if archive in _PHYSICS_ARCHIVES:
        return f"physics:{archive}"
    if archive in _TOP_LEVEL_ARCHIVES:
        return archive
    raise ValueError(f"unknown arXiv archive {archive!r} in category {category!r}")


def category_matches(categories: list[str] | tuple[str, ...], category: str) -> bool:
    """True if a paper listed in `categories` (primary or cross-list) belongs to `category`.

    A bare archive (`hep-th`, `cs`) also matches its subject classes (`cs.CL`).
    """
    if category in categories:
        return True
    if "." not in category:
        return any(c.split(".", 1)[0] == category for c in categories)
    return False


def _wanted(item: Paper | RecordError, category: str) -> bool:
    if isinstance(item, Paper):
        return category_matches(item.categories, category)
    if isinstance(item, OaiRecordError) and item.categories:
        return category_matches(item.categories, category)
    return True  # an error we cannot place is reported rather than silently dropped


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def harvest_oai(
    base_url: str,
    category: str,
    since: date,
    until: date | None,
    client: PoliteClient,
    state: HarvestState,
    metadata_prefix: str = "arXiv",
    *,
    set_spec: str | None = None,
) -> Iterator[Paper | RecordError]:
    """Papers of `category` whose OAI datestamp is in [since, until], resuming a saved harvest.

    Requests the archive set (see `oai_set_spec`) and keeps records whose categories
    include `category`, cross-lists included.  After each page has been consumed the
    next resumption token is saved; the final page clears the state.  If a saved token
    has expired (`badResumptionToken`; arXiv's tokens are short-lived), the harvest
    restarts from the beginning rather than failing: re-delivered papers merge cleanly.
    """
    _check_category(category)
    key = harvest_key("oai", base_url, category, since, until, metadata_prefix)
    initial: dict[str, str | int] = {
        "verb": "ListRecords",
        "metadataPrefix": metadata_prefix,
        "set": set_spec or oai_set_spec(category),
        "from": since.isoformat(),
    }
    if until is not None:
        initial["until"] = until.isoformat()
    saved = state.get(key) or {}
    token: str | None = saved.get("resumption_token")
    pages = int(saved.get("pages", 0))
    if token:
        log.info("resuming OAI harvest %s after %d pages", key, pages)
    from_saved = bool(token)
    while True:
        params: dict[str, str | int] = {"verb": "ListRecords", "resumptionToken": token} if token else initial
        try:
            data, url = client.get_bytes(base_url, params)
            items, page = parse_oai(data, url)
        except OaiError as exc:
            if exc.code == "badResumptionToken" and from_saved:
                log.warning("saved resumption token for %s expired (%s); restarting harvest", key, exc)
                state.set(key, {})
                token, pages, from_saved = None, 0, False
                continue
            raise
        from_saved = False
        for item in items:
            if _wanted(item, category):
                yield item
        # Reached only when the consumer asked for more after the page's last item.
        pages += 1
        if page.resumption_token is None:
            state.set(key, {})
            return
        if page.resumption_token == token:
            raise IngestError(f"OAI server returned resumption token {token!r} twice", Location(url))
        token = page.resumption_token
        state.set(key, {
            "resumption_token": token,
            "cursor": page.cursor,
            "complete_list_size": page.complete_list_size,
            "pages": pages,
            "saved_at": _stamp(),
        })


def harvest_api(
    base_url: str,
    category: str,
    since: date,
    until: date | None,
    client: PoliteClient,
    state: HarvestState,
    page_size: int = 100,
    *,
    empty_page_retries: int = 2,
) -> Iterator[Paper | RecordError]:
    """Papers of `category` first submitted in [since, until] (until None: today, UTC), via the search API.

    Sorted by submission date ascending so offsets stay valid while new papers
    arrive (they sort after everything already paged).  The next `start` offset
    is saved after each consumed page, together with the effective `until`, so an
    open-ended harvest resumed tomorrow still asks the same query.  The API
    occasionally answers a page with zero entries although more results exist;
    such a page is re-requested `empty_page_retries` times before giving up.
    """
    _check_category(category)
    if page_size < 1:
        raise ValueError("page_size must be >= 1")
    key = harvest_key("api", base_url, category, since, until)
    saved = state.get(key) or {}
    start = int(saved.get("start", 0))
    end = date.fromisoformat(saved["until"]) if saved.get("until") else until or datetime.now(UTC).date()
    if start:
        log.info("resuming API harvest %s at offset %d", key, start)
    query = f"cat:{category} AND submittedDate:[{since:%Y%m%d}0000 TO {end:%Y%m%d}2359]"
    empty_pages = 0
    while True:
        params: dict[str, str | int] = {
            "search_query": query,
            "start": start,
            "max_results": page_size,
            "sortBy": "submittedDate",
            "sortOrder": "ascending",
        }
        data, url = client.get_bytes(base_url, params)
        items, page = parse_atom(data, url)
        if not items:
            if start >= page.total_results:
                state.set(key, {})
                return
            empty_pages += 1
            if empty_pages > empty_page_retries:
                raise IngestError(
                    f"arXiv API returned no entries at start={start} although totalResults="
                    f"{page.total_results}; rerun to resume from this offset",
                    Location(url),
                )
            continue
        empty_pages = 0
        yield from items
        # Reached only when the consumer asked for more after the page's last item.
        start += len(items)
        if start >= page.total_results:
            state.set(key, {})
            return
        state.set(key, {"start": start, "until": end.isoformat(), "total_results": page.total_results,
                        "saved_at": _stamp()})
