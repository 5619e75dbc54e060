"""Fetch one paper from the arXiv API when a member submits an id the store does not have yet.

One request (`id_list=`), one short retry, a 10-second timeout: a submit form must not hang
on an unreachable arXiv.  The answer goes through the normal ingestion path (merge, one
transaction), so a fetched paper is like any other; the keyword index catches up on the next
search.  Offline, the caller says the paper is not in the store.
"""

from __future__ import annotations

from paperfeed.ingestion.arxiv_atom import parse_atom
from paperfeed.ingestion.errors import IngestError
from paperfeed.ingestion.pipeline import ingest_records
from paperfeed.ingestion.polite_http import PoliteClient
from paperfeed.models import Paper
from paperfeed.store.papers import Store


def fetch_from_arxiv(store: Store, arxiv_id: str, api_url: str) -> str | None:
    """Store arXiv paper `arxiv_id` from the API at `api_url`; its paper id, or None when arXiv does not
    know it.  Raises IngestError when arXiv cannot be reached or answers nonsense."""
    with PoliteClient(interval=0, max_retries=1, backoff=0.5, timeout=10.0) as client:
        data, url = client.get_bytes(api_url, {"id_list": arxiv_id, "max_results": 1})
    items, _page = parse_atom(data, url)
    papers = [p for p in items if isinstance(p, Paper) and p.arxiv_id == arxiv_id]
    if not papers:
        return None
    report = ingest_records(store, papers[:1], f"{api_url}?id_list={arxiv_id}")
    if report.failure:
        raise report.failure
    return papers[0].id


def find_or_fetch(store: Store, arxiv_id: str, api_url: str | None) -> tuple[int | None, str | None]:
    """(pk, problem): the stored paper's pk, fetching it first when `api_url` is set; else why not."""
    pk = store.pk_of(arxiv_id)
    if pk is not None:
        return pk, None
    if not api_url:
        return None, f"arXiv {arxiv_id} is not in this site's store (fetching from arXiv is turned off)."
    try:
        found = fetch_from_arxiv(store, arxiv_id, api_url)
    except IngestError:
        return None, f"arXiv {arxiv_id} is not in this site's store and arXiv could not be reached; try later."
    if found is None:
        return None, f"arXiv has no paper {arxiv_id}."
    return store.pk_of(found), None
