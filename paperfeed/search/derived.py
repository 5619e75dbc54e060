"""What every derived index shares: a folder, a state file with the store `seq` it has
applied, and a cross-process lock for writers.

An index whose state names another store, another schema or another model is treated as
absent (`applied_seq` = -1) and rebuilt, so a stale or foreign index can never silently
answer for this store.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from paperfeed import diskio
from paperfeed.store.papers import Store


class DerivedIndex:
    def __init__(self, path: Path, identity: dict[str, Any]):
        self.path = path  # folder
        self.identity = identity  # what must match for the files to be reused
        self._state_file = path / "state.json"

    def state(self) -> dict:
        try:
            return json.loads(self._state_file.read_text())
        except (OSError, ValueError):
            return {}

    def write_state(self, store: Store, seq: int) -> None:
        """Record the applied `seq`, atomically; called only after the index itself is durable."""
        state = {"store_id": store.store_id, **self.identity, "seq": seq}
        diskio.atomic_write_text(self._state_file, json.dumps(state))

    def applied_seq(self, store: Store) -> int:
        s = self.state()
        if s.get("store_id") != store.store_id or any(s.get(k) != v for k, v in self.identity.items()):
            return -1
        return int(s.get("seq", -1))

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """One writer per index across processes."""
        with diskio.file_lock(self.path.parent / (self.path.name + ".lock")):
            yield
