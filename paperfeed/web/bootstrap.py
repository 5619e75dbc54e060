"""First start of the site on an empty database: ingest what `PAPERFEED_SOURCES` names.

`PAPERFEED_SOURCES` is a comma-separated list of files or URLs, in any format `paperfeed ingest`
reads (e.g. `../shared/data/arxiv-cs-2025-2026.jsonl.gz`).  `paperfeed serve` runs this in a
background thread, so the site answers at once and the papers appear when the input commits
(each input is one transaction).  A database that already has papers is left alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from paperfeed.core import Paperfeed
from paperfeed.ingestion.pipeline import IngestReport, ingest_paths
from paperfeed.settings import Settings, split_sources
from paperfeed.store import jobs

log = logging.getLogger(__name__)


def configured_sources(env: Mapping[str, str]) -> list[str]:
    return list(split_sources(env.get("PAPERFEED_SOURCES", "")))


def ingest_if_empty(pf: Paperfeed, sources: list[str]) -> IngestReport | None:
    """Ingest `sources` and index them for keywords when the store has no papers; else do nothing."""
    if not sources or pf.store.count() > 0:
        return None
    try:  # several nodes starting at once over one empty database: one ingests (store/jobs.py), the others serve
        with jobs.claim(pf.location, jobs.INGEST, blocking=False):
            if pf.store.count() > 0:  # another node finished it while we started
                return None
            report = ingest_paths(pf.store, sources)
    except jobs.JobBusy:
        log.warning("PAPERFEED_SOURCES: another node is ingesting them into this database")
        return None
    for inp in report.inputs:
        if inp.failure:
            log.error("PAPERFEED_SOURCES: %s: %s", inp.source, inp.failure)
        else:
            log.warning("PAPERFEED_SOURCES: %s: added %d, rejected %d", inp.source, inp.added, inp.rejected)
    pf.refresh_keyword_index()
    return report


def start_background_ingest(pf: Paperfeed, sources: list[str]) -> threading.Thread | None:
    if not sources or pf.store.count() > 0:
        return None
    t = threading.Thread(target=ingest_if_empty, args=(pf, sources), name="paperfeed-bootstrap", daemon=True)
    t.start()
    return t


# -- several worker processes ------------------------------------------------------------------------

def create_worker_app(settings: Settings):  # type: ignore[no-untyped-def]
    """App factory for each of `serve --workers N`'s worker processes (`settings` arrives pickled): the
    same database (rate limits live in the store, so every worker shares them).  Background work (ingest,
    embedding) is never started here: the `serve` process that supervises the workers runs it once."""
    from paperfeed.web import create_app

    return create_app(Paperfeed(settings), settings.web)
