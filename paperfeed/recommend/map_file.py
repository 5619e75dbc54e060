"""The map of the papers as a derived file beside the indexes (`<index dir>/map.npz`): built from the
store, rebuilt when missing, corrupt, foreign or stale, never inside a request.

What it holds: the `PaperMap` of every embedded paper (recommend/map.py) plus each point's store pk (to
fetch titles in one query), the `CENTRAL` papers nearest each cluster's mean embedding (what a region
of the map offers at onboarding), and a JSON `meta` record (store id, model, how many papers had
embeddings when it was built).

When it is rebuilt (decided here, in one place):

* missing, unreadable (a truncated or garbage file: moved aside as `map.broken-<time>.npz` for the
  operator) or built for another store or model: rebuilt;
* stale: the number of embedded papers differs from the build's by more than `STALE_FRACTION` (5%);
  for the 74,728-paper corpus that is ~3,700 papers, about a week of arXiv cs, and a rebuild costs
  ~30-60 s of one core (bench/recommend_map.py: 29 s CPU for the layout), so the map is at most a
  week behind and is not rebuilt after every harvest.  A stale map is still served while the new one
  is built; papers newer than the map are simply not on it yet.
* by whom: `paperfeed index` (inline, after the vector index) and the web server (a background thread
  started by the first request that notices; the page says "the map is being built" meanwhile).
  One builder across processes: a non-blocking file lock; a process that loses the race just waits for
  the file to appear.  The background embedder is left alone: its job is embeddings, and the next
  map request (or `paperfeed index`) notices the change.

The write is atomic (diskio.atomic_replace_with): a reader sees the old map or the new one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from paperfeed import diskio
from paperfeed.config import MODEL_NAME
from paperfeed.recommend.map import PaperMap, build_map
from paperfeed.recommend.text import ARXIV_SANITY_TFIDF, fit_tfidf
from paperfeed.store.papers import Store

log = logging.getLogger(__name__)

FORMAT = 1
STALE_FRACTION = 0.05
CENTRAL = 20  # papers kept per cluster, most central first
MIN_PAPERS = 3  # build_map's minimum
_SMALL_TFIDF = {**ARXIV_SANITY_TFIDF, "min_df": 1, "max_df": 1.0}


class MapCorrupt(Exception):
    pass


@dataclass
class StoredMap:
    map: PaperMap
    pks: np.ndarray  # (n,) int64, the store pk of each point
    central: list[list[str]]  # per cluster, paper ids nearest its mean embedding
    meta: dict[str, Any]
    version: str = ""  # changes whenever the file is replaced (for caches and the JSON's URL)
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def row(self, paper_id: str) -> int | None:
        if not self._index:
            self._index = {p: i for i, p in enumerate(self.map.ids)}
        return self._index.get(paper_id)


# -- building ---------------------------------------------------------------------------------------


def build_from_store(store: Store, model: str = MODEL_NAME, k: int | None = None) -> StoredMap:
    """The map of every paper with an embedding (ValueError when fewer than `MIN_PAPERS` have one)."""
    vec_of: dict[int, np.ndarray] = {}
    for pks, vectors, _ in store.iter_vectors_changed(model, -1):
        if vectors is not None:
            vec_of.update(zip(pks.tolist(), vectors, strict=True))
    items: list[tuple[int, str, str]] = []
    for chunk in store.iter_changed(-1):
        items.extend((pk, p.id, f"{p.title}. {p.abstract or ''}") for pk, _, p in chunk if pk in vec_of)
    if len(items) < MIN_PAPERS:
        raise ValueError(f"the map needs at least {MIN_PAPERS} papers with embeddings ({len(items)} have one)")
    pks = np.array([pk for pk, _, _ in items], dtype=np.int64)
    ids = [pid for _, pid, _ in items]
    v = np.stack([vec_of[pk] for pk, _, _ in items]).astype(np.float32)
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    texts = [t for _, _, t in items]
    try:
        vec, x = fit_tfidf(texts, ARXIV_SANITY_TFIDF)
    except ValueError:  # a small store: min_df 5 / max_df 0.1 leave no words
        vec, x = fit_tfidf(texts, _SMALL_TFIDF)
    m = build_map(ids, v, x, list(vec.get_feature_names_out()), k=k)
    central = []
    for c in range(len(m.labels)):
        rows = np.flatnonzero(m.cluster == c)
        mean = v[rows].mean(axis=0)
        order = rows[np.argsort(-(v[rows] @ mean), kind="stable")[:CENTRAL]]
        central.append([ids[i] for i in order])
    meta = {"format": FORMAT, "store_id": store.store_id, "model": model, "embedded": len(ids),
            "built_at": time.time()}
    return StoredMap(m, pks, central, meta)


def save(sm: StoredMap, path: Path) -> None:
    width = max(1, max((len(c) for c in sm.central), default=1))
    central = np.array([c + [""] * (width - len(c)) for c in sm.central]) if sm.central else np.zeros((0, 1), "U1")

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            m = sm.map
            np.savez(f, ids=np.array(m.ids), xy=m.xy, cluster=m.cluster, centres=m.centres,
                     labels=np.array(m.labels), pks=sm.pks, central=central, meta=np.array(json.dumps(sm.meta)))
    diskio.atomic_replace_with(path, write)


def load(path: Path) -> StoredMap:
    """Raises FileNotFoundError when absent, `MapCorrupt` when the file cannot be read or is inconsistent."""
    try:
        st = path.stat()
        with np.load(path, allow_pickle=False) as z:
            m = PaperMap(z["ids"].tolist(), z["xy"], z["cluster"], z["centres"], z["labels"].tolist())
            pks, central, meta = z["pks"], z["central"].tolist(), json.loads(str(z["meta"]))
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise MapCorrupt(f"{type(e).__name__}: {e}") from e
    n = len(m.ids)
    if (m.xy.shape != (n, 2) or m.cluster.shape != (n,) or pks.shape != (n,) or not isinstance(meta, dict)
            or len(m.labels) != len(m.centres) or (n and int(m.cluster.max()) >= len(m.labels))):
        raise MapCorrupt("arrays of inconsistent shapes")
    return StoredMap(m, pks, [[p for p in c if p] for c in central], meta, f"{st.st_mtime_ns:x}-{st.st_size:x}")


# -- the file beside the indexes, and its healing ----------------------------------------------------------


class MapFile:
    """One map file; `get()` answers from memory (reloaded when the file changes), `ensure()` rebuilds."""

    def __init__(self, index_dir: Path, model: str = MODEL_NAME, background: bool = False):
        self.path = index_dir / "map.npz"
        self.lock_path = index_dir / "map.lock"
        self.model = model
        self.background = background  # the web server: rebuild in a thread, never inside a request
        self._loaded: StoredMap | None = None
        self._stamp: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()
        self._checked: tuple[int, str] | None = None  # (store seq, answer) of the last freshness check
        self.last_error: str | None = None

    def _read(self) -> StoredMap:
        st = self.path.stat()
        stamp = (st.st_mtime_ns, st.st_size)
        if self._loaded is None or self._stamp != stamp:
            self._loaded, self._stamp = load(self.path), stamp
        return self._loaded

    def state(self, store: Store) -> tuple[str, StoredMap | None]:
        """("ok" | "stale" | "missing" | "corrupt" | "foreign" | "too-few", the usable map or None)."""
        try:
            sm = self._read()
        except FileNotFoundError:
            self._loaded = None
            return ("too-few" if store.count_embedded(self.model) < MIN_PAPERS else "missing"), None
        except MapCorrupt:
            self._loaded = None
            return "corrupt", None
        if sm.meta.get("store_id") != store.store_id or sm.meta.get("model") != self.model \
                or sm.meta.get("format") != FORMAT:
            return "foreign", None
        seq = store.current_seq()
        if self._checked is not None and self._checked[0] == seq:
            return self._checked[1], sm
        built = int(sm.meta.get("embedded", 0))
        now = store.count_embedded(self.model)
        answer = "stale" if abs(now - built) > STALE_FRACTION * built else "ok"
        self._checked = (seq, answer)
        return answer, sm

    def building(self) -> bool:
        t = self._thread
        return (t is not None and t.is_alive()) or diskio.lock_is_held(self.lock_path)

    def get(self, store: Store) -> tuple[StoredMap | None, str]:
        """The map to show (None when there is none yet) and its state; starts a rebuild when needed."""
        state, sm = self.state(store)
        if state not in ("ok", "too-few"):
            self.ensure(store, state)
        return sm, state

    def ensure(self, store: Store, state: str | None = None) -> bool:
        """Rebuild when the map is not "ok"; inline unless `background`.  True when a build ran (inline)
        or was started (background)."""
        state = state or self.state(store)[0]
        if state in ("ok", "too-few"):
            return False
        if not self.background:
            return self.rebuild(store, state)
        with self._guard:
            if self._thread is not None and self._thread.is_alive():
                return True
            self._thread = threading.Thread(target=self._rebuild_quietly, args=(store, state),
                                            name="paperfeed-map", daemon=True)
            self._thread.start()
        return True

    def _rebuild_quietly(self, store: Store, state: str) -> None:
        try:
            self.rebuild(store, state)
        except Exception as e:  # noqa: BLE001 - logged; the page keeps saying it is not available
            log.exception("building the paper map failed")
            self.last_error = f"{type(e).__name__}: {e}"

    def rebuild(self, store: Store, state: str, force: bool = False) -> bool:
        """Build and save the map unless, once the lock is ours, it is fine after all (another process may
        have built it while we looked); `force` rebuilds a fine one too (`paperfeed index --rebuild`)."""
        try:
            with diskio.file_lock(self.lock_path, blocking=False):
                again, _ = self.state(store)
                if again == "too-few" or (again == "ok" and not force):
                    return False
                if again == "corrupt":
                    moved = self.path.with_name(f"map.broken-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.npz")
                    with contextlib.suppress(OSError):
                        os.rename(self.path, moved)
                        log.warning("the paper map at %s was unreadable; moved to %s, rebuilding", self.path, moved)
                t0 = time.process_time()
                sm = build_from_store(store, self.model)
                save(sm, self.path)
                self._checked = None
                self.last_error = None
                log.info("paper map rebuilt (%s): %d papers, %d clusters, %.1f s CPU", state, len(sm.map.ids),
                         len(sm.map.labels), time.process_time() - t0)
                return True
        except diskio.LockBusy:
            return False  # another process is building it
