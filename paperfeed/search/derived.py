"""What every derived index shares: a folder, a state file with the store `seq` it has applied,
a cross-process lock for writers, and healing when the folder is missing or its files are corrupt.

An index whose state names another store, another schema or another model is treated as
absent (`applied_seq` = -1) and rebuilt, so a stale or foreign index can never silently
answer for this store.

Healing (issue 8): an index is derived data, so a corrupt one must never take the site down.
A subclass raises `IndexCorrupt` when its files cannot be opened or read (an empty or garbage
`meta.json`, a truncated segment, an unreadable vector file).  Then:

* the broken folder is moved aside, not deleted (`lexical.broken-20261202T074500`), for the operator;
* the index is rebuilt from the store into a sibling temp folder that is renamed into place when
  complete (a rename is atomic), so a reader only ever sees a whole index;
* in the web server (`background_heal = True`) the rebuild runs in a background thread and the
  request gets `IndexUnavailable` at once (the site answers with what still works, or 503 with
  `Retry-After`); a command-line run (`background_heal = False`) rebuilds in place and goes on;
* what happened (which index, why, when, where the files went, rebuild progress) is written to
  `<name>.health.json` beside the folder, so every worker process and `/status` can show it.

Exactly one process rebuilds (the writer lock); the others wait for it in their own background
thread and then pick up the new folder (`generation` in the health file changes on every swap).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from paperfeed import diskio
from paperfeed.store.papers import Store

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
RETRY_AFTER = 30  # seconds a client is told to wait while an index is rebuilt
_HEALTH_EVERY = 1.0  # seconds between progress writes to the health file during a rebuild
LABELS = {"lexical": "keyword index", "semantic": "vector index"}


class IndexCorrupt(Exception):
    """The index's files cannot be opened or read; `reason` says what the library reported."""

    def __init__(self, index: DerivedIndex, reason: str, keep: bool = True):
        super().__init__(f"{index.label} at {index.path} is unusable: {reason}")
        self.index, self.reason = index, reason
        self.keep = keep  # corrupt files are moved aside for the operator; a missing or outdated index is not


class IndexUnavailable(Exception):
    """The index is being rebuilt from the store (in the background); try again later."""

    def __init__(self, index: DerivedIndex):
        self.index, self.health = index, index.health()
        done, total = self.health.get("done"), self.health.get("total")
        progress = f" ({done} of {total} done)" if total else ""
        super().__init__(f"the {index.label} is being rebuilt from the store{progress}; try again in a minute")
        self.retry_after = RETRY_AFTER


class DerivedIndex:
    background_heal = False  # the web app sets True: rebuild in a thread, never inside a request

    def __init__(self, path: Path, identity: dict[str, Any]):
        self.path = path  # folder
        self.identity = identity  # what must match for the files to be reused
        self._state_file = path / "state.json"
        self.health_file = path.with_name(path.name + ".health.json")
        self.label = LABELS.get(path.name, f"{path.name} index")
        self._heal_thread: threading.Thread | None = None
        self._heal_guard = threading.Lock()
        self._generation: int | None = None  # of the folder this object opened

    # -- what subclasses provide ------------------------------------------------------------------

    def _reset(self) -> None:
        """Forget whatever was loaded from the folder (it was moved or replaced)."""

    def _probe(self) -> None:
        """Open the folder's files afresh; raise `IndexCorrupt` if they cannot be used."""

    def _build(self, store: Store, progress: Progress | None) -> int:
        """Write a complete index of the store into `self.path` (an empty folder); returns items added."""
        raise NotImplementedError

    def _needs_build(self, store: Store) -> bool:
        """True when a rebuild has something to put in (else an empty index is made inline at once)."""
        return True

    # -- state ------------------------------------------------------------------------------------

    def state(self) -> dict:
        try:
            s = json.loads(self._state_file.read_text())
        except (OSError, ValueError):
            return {}
        return s if isinstance(s, dict) else {}

    def write_state(self, store: Store, seq: int) -> None:
        """Record the applied `seq`, atomically; called only after the index itself is durable."""
        state = {"store_id": store.store_id, **self.identity, "seq": seq}
        diskio.atomic_write_text(self._state_file, json.dumps(state))

    def applied_seq(self, store: Store) -> int:
        s = self.state()
        if s.get("store_id") != store.store_id or any(s.get(k) != v for k, v in self.identity.items()):
            return -1
        try:
            return int(s.get("seq", -1))
        except (TypeError, ValueError):
            return -1

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """One writer per index across processes."""
        with diskio.file_lock(self.path.parent / (self.path.name + ".lock")):
            yield

    # -- health -----------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """The last healing record ({} if this index never needed one)."""
        try:
            h = json.loads(self.health_file.read_text())
        except (OSError, ValueError):
            return {}
        return h if isinstance(h, dict) else {}

    def _write_health(self, **facts: Any) -> None:
        rec = {**self.health(), "index": self.path.name, **facts}
        with contextlib.suppress(OSError):
            diskio.atomic_write_text(self.health_file, json.dumps(rec))

    def rebuilding(self) -> bool:
        """True while this process's background rebuild (or its wait for another process's) runs."""
        t = self._heal_thread
        return t is not None and t.is_alive()

    def follow_swaps(self) -> None:
        """Drop what was loaded when another process swapped a rebuilt folder in since."""
        gen = self.health().get("generation")
        if gen is not None and self._generation is not None and gen != self._generation:
            self._reset()
        self._generation = gen

    def check(self, store: Store) -> None:
        """Raise `IndexCorrupt` if the index is missing (while the store has data) or cannot be opened."""
        if self.applied_seq(store) < 0:
            if self._needs_build(store):
                raise IndexCorrupt(self, "missing, or built for another store or version", keep=False)
            return
        self._probe()

    def recover(self, store: Store, err: IndexCorrupt) -> None:
        """After `err`: rebuild inline (command line), or start the background rebuild and raise
        `IndexUnavailable` (web)."""
        if not self.background_heal:
            self.sync_rebuild(store, err.reason, err.keep)
            return
        with self._heal_guard:
            if not self.rebuilding():
                self._write_health(state="rebuilding", reason=err.reason, detected=time.time(), pid=os.getpid(),
                                   done=0, total=None, finished=None, error=None)
                self._heal_thread = threading.Thread(
                    target=self._heal_in_background, args=(store, err.reason, err.keep),
                    name=f"paperfeed-heal-{self.path.name}", daemon=True)
                self._heal_thread.start()
        raise IndexUnavailable(self)

    def _heal_in_background(self, store: Store, reason: str, keep: bool) -> None:
        try:
            self.sync_rebuild(store, reason, keep)
        except Exception as e:  # noqa: BLE001 - recorded for /status; the next request tries again
            log.exception("rebuilding the %s failed", self.label)
            self._write_health(state="failed", error=f"{type(e).__name__}: {e}", finished=time.time())

    def sync_rebuild(self, store: Store, reason: str, keep: bool = True) -> int:
        """Under the writer lock: unless another process healed it meanwhile, move the broken folder
        aside and build a new one from the store beside it, then rename it into place."""
        with self.writer_lock():
            try:
                self.check(store)
                self._reset()  # another process rebuilt it while we waited: use theirs
                self._generation = self.health().get("generation")
                return 0
            except IndexCorrupt:
                pass
            return self._rebuild_locked(store, None, reason, keep)

    def _rebuild_locked(self, store: Store, progress: Progress | None, reason: str | None,
                        keep: bool = True) -> int:
        """Build a whole new index into a temp sibling and rename it into place (caller holds the lock)."""
        started = time.time()
        moved = None
        if reason is not None:
            log.warning("%s at %s is unusable (%s): rebuilding it from the store", self.label, self.path, reason)
            self._write_health(state="rebuilding", reason=reason, detected=self.health().get("detected") or started,
                               pid=os.getpid(), done=0, total=None, finished=None, error=None)
        tmp = self.path.with_name(f".{self.path.name}.rebuild-{os.getpid()}-{threading.get_ident()}")
        shutil.rmtree(tmp, ignore_errors=True)
        fresh = type(self)(tmp)
        last = [0.0]

        def report(done: int, total: int) -> None:
            if progress:
                progress(done, total)
            if reason is not None and time.monotonic() - last[0] >= _HEALTH_EVERY:
                last[0] = time.monotonic()
                self._write_health(done=done, total=total)

        try:
            tmp.mkdir(parents=True)
            added = fresh._build(store, report)
            fresh._reset()
            self._reset()
            if self.path.exists():
                if reason is not None and keep and any(self.path.iterdir()):
                    moved = self.path.with_name(f"{self.path.name}.broken-{time.strftime('%Y%m%dT%H%M%S')}"
                                                f"-{os.getpid()}")
                    os.rename(self.path, moved)
                else:
                    shutil.rmtree(self.path)
            os.rename(tmp, self.path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            with contextlib.suppress(OSError):
                (tmp.parent / (tmp.name + ".lock")).unlink()
        gen = time.time_ns()
        self._generation = gen
        if reason is not None:
            self._write_health(state="ok", generation=gen, finished=time.time(), moved_to=str(moved) if moved else None,
                               done=added, total=added, error=None)
            log.warning("%s rebuilt from the store (%d items)%s", self.label, added,
                        f"; the broken files are in {moved}" if moved else "")
        else:
            self._write_health(generation=gen)
        return added
