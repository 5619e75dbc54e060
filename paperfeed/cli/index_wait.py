"""`paperfeed index` while another process embeds the same database (usually `./run.sh`'s background
embedder): say so, show its progress, and return when the papers asked for are embedded.

Only one process embeds a database at a time (the flock of `search/background.py`), and the server's
embedder holds it for as long as it has a backlog: a whole corpus is about an hour.  `index` used to
block on that lock without a word.  Now it reports who holds the lock (the pid and progress the
embedder writes to `embedder.json`) and follows the store's count of embedded papers on a progress
bar.  The background embedder works newest first, like `index`, so `index --limit N` is done as soon
as N more papers have embeddings; a plain `index` waits for the backlog to end and then embeds what
is still missing itself.  Ctrl-C stops the waiting, never the server's embedder.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import Progress

from paperfeed.config import MODEL_NAME
from paperfeed.search.background import lock_held, read_progress

if TYPE_CHECKING:
    from paperfeed.core import Paperfeed

POLL = 1.0  # seconds between looks at the store's count (one indexed COUNT, ~20 ms at 75,000 papers)


@dataclass
class Waited:
    """What the wait ended with: `reached` the papers asked for were embedded by the other process."""

    reached: bool
    embedded: int
    papers: int
    target: int
    holder: str


def holder(db_path) -> tuple[str, int | None]:  # type: ignore[no-untyped-def]
    """Who holds the embed lock: ("the server's background embedder", pid) when a live background
    embedder wrote its progress file, else ("another process embedding this database", None)."""
    rec = read_progress(db_path)
    if rec.get("running") and rec.get("state") in ("starting", "embedding", "idle", "waiting"):
        return "the server's background embedder", int(rec["pid"])
    return "another process embedding this database (`paperfeed index`?)", None


def wait_for_other_embedder(pf: Paperfeed, limit: int | None, bar: Callable[[str], Progress], err: Console,
                            poll: float = POLL) -> Waited | None:
    """None when no other process holds the embed lock; else wait as described above."""
    if not lock_held(pf.location):
        return None
    store = pf.store
    papers, start = store.count(), store.count_embedded(MODEL_NAME)
    target = papers if limit is None else min(papers, start + limit)
    who, pid = holder(pf.location)
    facts = ([f"pid {pid}"] if pid else []) + [f"{start:,}/{papers:,} embedded"]
    err.print(f"waiting for {who} ({', '.join(facts)}) …", markup=False, highlight=False, soft_wrap=True)
    if pid:
        who = f"{who} (pid {pid})"
    what = f"the {limit:,} newest papers" if limit is not None else "every paper"
    err.print(f"(it embeds newest first; this returns when {what} have embeddings; Ctrl-C stops waiting, "
              "not the embedder)", markup=False, highlight=False, soft_wrap=True)
    embedded = start
    with bar("embedded by the server") as progress:
        task = progress.add_task("embedded by the server", total=target, completed=embedded)
        while True:
            embedded = store.count_embedded(MODEL_NAME)
            rate = read_progress(pf.location).get("rate")
            desc = "embedded by the server" + (f" ({rate:.1f} papers/s)" if isinstance(rate, int | float) else "")
            progress.update(task, completed=min(embedded, target), description=desc)
            if embedded >= target:
                return Waited(True, embedded, store.count(), target, who)
            if not lock_held(pf.location):  # its backlog ended (or it stopped): `index` does the rest itself
                return Waited(False, embedded, store.count(), target, who)
            time.sleep(poll)
