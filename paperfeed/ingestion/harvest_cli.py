"""`paperfeed ingest arxiv`: harvest a category from arXiv into the store, page by page.

Each harvested page is committed in one transaction together with the resumption
position that follows it, so an interrupted harvest resumes exactly after the last
page that is in the store - never skipping one, never half-writing one.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from rich.console import Console

from paperfeed.ingestion.arxiv_harvest import harvest_api, harvest_oai
from paperfeed.ingestion.errors import IngestError, RecordError, RecordWarning
from paperfeed.ingestion.pipeline import IngestReport, InputReport, StrictModeError
from paperfeed.ingestion.polite_http import PoliteClient
from paperfeed.models import Paper
from paperfeed.store import jobs
from paperfeed.store.papers import Store

OAI_URL = "https://oaipmh.arxiv.org/oai"
API_URL = "https://export.arxiv.org/api/query"


class PageCommitter:
    """A `HarvestState` whose every save also commits the papers of the page just consumed."""

    def __init__(self, store: Store, report: InputReport, strict: bool):
        self.store = store
        self.report = report
        self.strict = strict
        self.buffer: list[Paper] = []

    def get(self, key: str) -> dict[str, Any] | None:
        return self.store.get_state("harvest:" + key)

    def set(self, key: str, value: dict[str, Any]) -> None:
        with self.store.paper_batch() as batch:
            if self.buffer:
                self.report.add(batch.upsert(self.buffer))
            batch.set_state("harvest:" + key, value or None)
        self.buffer = []

    def take(self, item: Paper | RecordError | RecordWarning) -> None:
        if isinstance(item, RecordWarning):
            self.report.warnings.append(item)
        elif isinstance(item, RecordError):
            self.report.rejected += 1
            self.report.errors.append(item)
            if self.strict:
                raise StrictModeError(f"--strict: malformed record: {item.message}", item.location)
        else:
            self.buffer.append(item)


def harvest_into(store: Store, category: str, since: date, until: date | None, endpoint: str, base_url: str,
                 client: PoliteClient, strict: bool = False) -> InputReport:
    rep = InputReport(f"arxiv {endpoint} {category} {since}…{until or 'today'}")
    state = PageCommitter(store, rep, strict)
    if endpoint == "oai":
        items = harvest_oai(base_url, category, since, until, client, state)
    elif endpoint == "api":
        items = harvest_api(base_url, category, since, until, client, state)
    else:
        raise IngestError(f"unknown endpoint {endpoint!r} (oai or api)")
    try:
        for item in items:
            state.take(item)
    except IngestError as e:
        rep.failure = e  # pages already committed stay; the saved position resumes after them
    return rep


def harvest(pf, category: str | None, since: date | None, until: date | None, endpoint: str,  # type: ignore[no-untyped-def]
            base_url: str | None, interval: float, strict: bool, err: Console) -> IngestReport:
    if not category:
        raise IngestError("`ingest arxiv` needs --category (e.g. cs.CL)")
    since = since or date.today() - timedelta(days=1)
    url = base_url or (OAI_URL if endpoint == "oai" else API_URL)
    err.print(f"harvesting {category} from {url} since {since} (one request every {interval:g}s)", highlight=False)
    try:  # one harvester per category and database, whichever node runs it (store/jobs.py)
        with jobs.claim(pf.location, f"{jobs.HARVEST}:{category}", blocking=False), \
                PoliteClient(interval=interval) as client:
            rep = harvest_into(pf.store, category, since, until, endpoint, url, client, strict)
    except jobs.JobBusy:
        raise IngestError(f"another process is already harvesting {category} into this database") from None
    return IngestReport([rep])
