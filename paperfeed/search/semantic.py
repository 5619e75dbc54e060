"""Meaning-based search: embeddings (stored, by content hash) and the ANN index derived from them.

Embeddings live in the store because they are expensive to recompute; the vector
index is derived from them and remembers the store `seq` it has applied (like the
keyword index), so it can always be brought up to date or rebuilt.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from paperfeed.config import MODEL_NAME
from paperfeed.models import embedding_text
from paperfeed.search.derived import DerivedIndex, IndexCorrupt, IndexUnavailable
from paperfeed.store.papers import Store

# The ANN file (faiss HNSW since 2026-12; "ann" in the state makes an index of the usearch era count
# as absent, so it is rebuilt from the stored embeddings instead of failing to load).
VECTORS_FILE = "vectors.faiss"
EMBED_CHUNK = 1024  # texts per committed batch: long enough to sort by length well; a crash loses one


def search_breadth(n: int) -> int:
    """HNSW search breadth ("ef") for an index of `n` vectors, so recall@10 stays >= 0.95.

    Measured with short text queries against exact search (bench/search_latency.py):
    74,728 real papers: ef 384 -> 0.973 (2.2 ms); 1,000,000 (real + noisy copies): ef 384 -> 0.863,
    768 -> 0.933, 1024 -> 0.953, 1536 -> 0.971 (5.6 ms).  A bigger graph needs a wider search.
    """
    if n <= 150_000:
        return 384
    if n <= 400_000:
        return 768
    return 1536


class SemanticIndex(DerivedIndex):
    def __init__(self, path: Path):
        super().__init__(path, {"model": MODEL_NAME, "ann": "faiss-hnsw"})
        self._vectors = None
        # The state `seq` of the file this process loaded (or last saved): another process (the
        # background embedder, another web worker) may save a newer index, which is then reloaded.
        self._loaded_seq: int | None = None

    @property
    def vectors(self):  # type: ignore[no-untyped-def]
        if self._vectors is None:
            from paperfeed.search.vectors import DEFAULT_EXPANSION_SEARCH, VectorIndex, VectorIndexError

            self.path.mkdir(parents=True, exist_ok=True)
            seq = self.state().get("seq", -1)  # read before the file: never newer than it
            loaded_seq = seq if isinstance(seq, int) else -1
            file = self.path / VECTORS_FILE
            if loaded_seq >= 0 and not file.exists():
                raise IndexCorrupt(self, f"{file.name} is missing")
            try:
                # the breadth is a search-time setting: an index saved with another one gets today's
                vectors = VectorIndex.open(file, dim=384, expansion_search=DEFAULT_EXPANSION_SEARCH)
            except (VectorIndexError, ValueError, OSError, RuntimeError) as e:
                raise IndexCorrupt(self, str(e)[:300]) from None
            vectors.expansion_search = search_breadth(len(vectors))
            self._vectors, self._loaded_seq = vectors, loaded_seq
        return self._vectors

    def _reset(self) -> None:
        self._vectors = None
        self._loaded_seq = None

    def _probe(self) -> None:
        self.vectors  # noqa: B018 - loading is the check

    def _needs_build(self, store: Store) -> bool:
        return store.count_embedded(MODEL_NAME) > 0

    def is_fresh(self, store: Store) -> bool:
        return self.applied_seq(store) >= store.current_seq()

    def __len__(self) -> int:
        if not (self.path / VECTORS_FILE).exists() and self._vectors is None:
            return 0
        return len(self.vectors)

    # -- embedding --------------------------------------------------------------------------------

    @staticmethod
    def embed_missing(store: Store, progress: Callable[[int, int], None] | None = None,
                      limit: int | None = None) -> int:
        """Embed every text that has no vector yet, newest papers first; returns how many."""
        todo = store.missing_embeddings(MODEL_NAME, limit)
        if not todo:
            return 0
        from paperfeed.search.embedder import get_embedder

        embedder = get_embedder()
        done = 0
        for i in range(0, len(todo), EMBED_CHUNK):
            part = todo[i : i + EMBED_CHUNK]
            vecs = embedder.embed([embedding_text(t, a) for _h, t, a in part])
            store.put_embeddings(MODEL_NAME, zip((h for h, _t, _a in part), vecs, strict=True))
            done += len(part)
            if progress:
                progress(done, len(todo))
        return done

    # -- index maintenance ------------------------------------------------------------------------

    def sync(self, store: Store, progress: Callable[[int, int], None] | None = None, rebuild: bool = False,
             heal: bool = True) -> int:
        """Bring the ANN index up to the store's current `seq`; returns vectors added.

        A missing, foreign or corrupt index (or `rebuild`) is built afresh beside the old one and renamed
        into place (see `derived.py`); with `heal=False` corruption raises `IndexCorrupt` instead."""
        with self.writer_lock():
            self.follow_swaps()
            target = store.current_seq()
            since = -1 if rebuild else self.applied_seq(store)
            if since >= 0 and self._vectors is not None and self._loaded_seq != since:
                self._vectors = None  # another process saved the index since we loaded it: reload
            if since < 0:
                return self._rebuild_locked(store, progress, None)
            if since >= target:
                return 0
            try:
                return self._apply(store, since, target, progress)
            except IndexCorrupt as e:
                if not heal:
                    raise
                return self._rebuild_locked(store, progress, e.reason)

    def _build(self, store: Store, progress: Callable[[int, int], None] | None) -> int:
        return self._apply(store, 0, store.current_seq(), progress)

    def _apply(self, store: Store, since: int, target: int, progress: Callable[[int, int], None] | None) -> int:
        total = store.count_embedded(MODEL_NAME)
        added = 0
        for pks, vecs, missing in store.iter_vectors_changed(MODEL_NAME, since):
            if len(missing) and since > 0:
                self.vectors.remove(missing)  # text changed, new vector not computed yet
            if vecs is not None and len(pks):
                self.vectors.add(pks, vecs)
                added += len(pks)
            if progress:
                progress(added, total)
        self.vectors.expansion_search = search_breadth(len(self.vectors))
        self.vectors.save()
        self.write_state(store, target)
        self._loaded_seq = target
        return added

    def reload_if_stale(self, store: Store) -> int:
        """Drop the loaded index when another process (e.g. the background embedder) saved a newer one,
        so the next use loads that; returns the applied `seq` on disk."""
        applied = self.applied_seq(store)
        if self._vectors is not None and applied >= 0 and applied != self._loaded_seq:
            self._vectors = None
        return applied

    def ensure_fresh(self, store: Store) -> None:
        """Load and catch up the index; a missing or corrupt one is rebuilt inline (command line) or in
        the background (web: raises `IndexUnavailable`, and search goes on by keywords)."""
        self.follow_swaps()
        if self.rebuilding():
            raise IndexUnavailable(self)
        try:
            self.check(store)
            if self.reload_if_stale(store) < store.current_seq():
                self.sync(store, heal=not self.background_heal)
        except IndexCorrupt as e:
            self.recover(store, e)

    # -- queries ----------------------------------------------------------------------------------

    def search(self, vector: np.ndarray, k: int, filter_keys: np.ndarray | None = None) -> list[tuple[int, float]]:
        if len(self) == 0:
            return []
        return self.vectors.search(vector, k, filter_keys=filter_keys)

    def get(self, pks: list[int]) -> dict[int, np.ndarray]:
        """Vectors of the given papers that have one."""
        if not pks or len(self) == 0:
            return {}
        keys = np.array(pks, dtype=np.uint64)
        vecs = self.vectors.get(keys)
        out = {}
        for pk, v in zip(pks, vecs, strict=True):
            if v is not None and np.asarray(v).size and np.isfinite(np.asarray(v, dtype=np.float32)).all():
                out[pk] = np.asarray(v, dtype=np.float32)
        return out
