"""Approximate nearest-neighbour index over paper embeddings (usearch HNSW, cosine).

The index is derived data (rebuildable from the store), but rebuilding 10^5 papers costs
minutes of embedding, so it is persisted and must survive crashes: `save()` writes a temp
file and renames it over the old one, so a reader or a restart only ever sees a whole index.

Storage is f32. Measured on all-MiniLM-L6-v2 embeddings of 12k corpus papers (see
bench/embed_throughput.py --compare-dtypes): f16 reaches the same recall@10 (0.998 at the
default search breadth) with half the memory and similar speed, but `get()` then returns
rounded vectors (cosine scores off by up to ~6e-5), so a paper scored from the index and the
same paper scored from the store's exact embedding could swap places; i8 tops out near 0.95
recall whatever the search breadth. f32 keeps `get()` bit-exact at 1.5 KiB a paper, which is
small at our scale; `open(..., dtype="f16")` remains available for a much larger corpus.

Scores are cosine similarities computed by one numpy function for every path (graph,
filtered, brute force), so the same paper gets the same score whichever way it was found,
and ties are broken by key, so results are reproducible.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from usearch.index import Index, MetricKind, ScalarKind

from paperfeed import diskio

METRIC = "cos"
DTYPES = ("f32", "f16", "i8")
DEFAULT_DTYPE = "f32"
# HNSW "M": 16 links a node; 32 doubles build time for little gain on embeddings (measured).
DEFAULT_CONNECTIVITY = 16
DEFAULT_EXPANSION_ADD = 128
# Search breadth ("ef"), measured with 300 short text queries (title spans) against exact search
# on the 74,728 embedded papers of the shared corpus (bench/search_latency.py reports it too):
#   ef 128: recall@10 0.912 (0.99 ms)   256: 0.956 (1.57 ms)   384: 0.973 (2.22 ms)   512: 0.982 (3.1 ms)
# Paper-to-paper queries are easier (>= 0.99 at 128 on 12k papers).  384 keeps text queries above
# 0.95 with margin; `calibrate()` raises it further for data that needs more (e.g. random vectors).
DEFAULT_EXPANSION_SEARCH = 384
# A filtered search over at most this many keys is answered exactly (a gather and one
# matrix-vector product, well under a millisecond); larger subsets over-fetch from the graph.
BRUTE_FORCE_MAX = 8192
# Extra neighbours fetched beyond k so that equal scores at the cut are ordered by key.
_TIE_SLACK = 8
# float32 dot products of 384-d unit vectors are off by ~1e-6 at most; candidates within this
# of the k-th rough score are rescored exactly.
_ROUGH_MARGIN = 1e-4
_META_FORMAT = 1
_USEARCH_DTYPES = {ScalarKind.F32: "f32", ScalarKind.F16: "f16", ScalarKind.I8: "i8"}
# usearch reserves the largest u64 as its "no key" marker.
_MAX_KEY = np.iinfo(np.uint64).max - 1

Results = list[tuple[int, float]]


class VectorIndexError(Exception):
    """The index file cannot be used: unreadable, corrupt, or its sidecar meta is broken."""


class IndexMismatchError(VectorIndexError, ValueError):
    """The index on disk was built for other vectors (dimension, metric or storage type)."""


def meta_path_for(path: Path) -> Path:
    """Sidecar JSON next to the index: `papers.usearch` -> `papers.usearch.meta.json`."""
    return path.with_name(path.name + ".meta.json")


class VectorIndex:
    """Cosine HNSW index from uint64 keys to unit vectors, persisted at `path`.

    Use `VectorIndex.open(path)`. Vectors are L2-normalised on `add`, so `get` returns unit
    vectors and similarities are plain dot products. All methods are thread-safe (one lock:
    a search takes well under a millisecond, so finer locking would not pay for itself).
    """

    def __init__(
        self,
        path: Path,
        dim: int,
        *,
        dtype: str = DEFAULT_DTYPE,
        connectivity: int = DEFAULT_CONNECTIVITY,
        expansion_add: int = DEFAULT_EXPANSION_ADD,
        expansion_search: int = DEFAULT_EXPANSION_SEARCH,
        info: dict[str, Any] | None = None,
    ):
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
        self.path = Path(path)
        self.dim = dim
        self.metric = METRIC
        self.dtype = dtype
        # Free-form JSON facts persisted in the sidecar, e.g. which model made the vectors.
        self.info: dict[str, Any] = dict(info or {})
        self._index = Index(
            ndim=dim,
            metric=METRIC,
            dtype=dtype,
            connectivity=connectivity,
            expansion_add=expansion_add,
            expansion_search=expansion_search,
        )
        self._lock = threading.RLock()
        self._dense: _Dense | None = None
        self._dirty = False

    # ------------------------------------------------------------------ opening and saving

    @classmethod
    def open(
        cls,
        path: Path,
        dim: int = 384,
        *,
        dtype: str | None = None,
        connectivity: int | None = None,
        expansion_add: int | None = None,
        expansion_search: int | None = None,
    ) -> VectorIndex:
        """Load the index at `path`, or start an empty one there if no file exists yet.

        Raises `IndexMismatchError` when the file holds vectors of another dimension or
        metric (or another dtype than one asked for explicitly): silently mixing vectors from
        two models would return nonsense neighbours rather than fail. `connectivity` only
        applies to a new index (a built graph keeps its own); the expansion settings, when
        not given, come from the sidecar meta.
        """
        path = Path(path)
        meta = _read_meta(meta_path_for(path))
        if not path.exists():
            return cls(
                path,
                dim,
                dtype=dtype or DEFAULT_DTYPE,
                connectivity=connectivity or DEFAULT_CONNECTIVITY,
                expansion_add=expansion_add or DEFAULT_EXPANSION_ADD,
                expansion_search=expansion_search or DEFAULT_EXPANSION_SEARCH,
            )
        try:
            header = Index.metadata(str(path))
        except (ValueError, RuntimeError, OSError) as e:
            raise VectorIndexError(f"{path}: not a readable usearch index ({e})") from e
        if not header:
            raise VectorIndexError(f"{path}: not a readable usearch index")
        file_dim = int(header["dimensions"])
        file_metric = "cos" if header["kind_metric"] == MetricKind.Cos else str(header["kind_metric"])
        file_dtype = _USEARCH_DTYPES.get(header["kind_scalar"], str(header["kind_scalar"]))
        hint = f"delete {path} and {meta_path_for(path).name} to rebuild it"
        if file_dim != dim:
            raise IndexMismatchError(f"{path}: index holds {file_dim}-d vectors, expected {dim}-d ({hint})")
        if file_metric != METRIC:
            raise IndexMismatchError(f"{path}: index uses metric {file_metric}, expected {METRIC} ({hint})")
        if dtype is not None and dtype != file_dtype:
            raise IndexMismatchError(f"{path}: index stores {file_dtype}, asked for {dtype} ({hint})")
        if meta and (meta.get("dim", dim) != dim or meta.get("metric", METRIC) != METRIC):
            raise IndexMismatchError(
                f"{meta_path_for(path)}: meta says dim={meta.get('dim')} metric={meta.get('metric')}, "
                f"expected dim={dim} metric={METRIC} ({hint})"
            )
        if file_dtype not in DTYPES:
            raise IndexMismatchError(f"{path}: unsupported storage type {file_dtype} ({hint})")
        ea = expansion_add or int(meta.get("expansion_add", DEFAULT_EXPANSION_ADD))
        es = expansion_search or int(meta.get("expansion_search", DEFAULT_EXPANSION_SEARCH))
        self = cls(path, dim, dtype=file_dtype, info=meta.get("info") or {})
        try:
            self._index.load(str(path))  # brings the file's connectivity with the graph
        except (ValueError, RuntimeError, OSError) as e:
            raise VectorIndexError(f"{path}: cannot load usearch index ({e})") from e
        # usearch keeps the expansion settings only in memory; they live in our meta.
        self._index.expansion_add = ea
        self._index.expansion_search = es
        return self

    @property
    def meta_path(self) -> Path:
        """Where the sidecar JSON lives."""
        return meta_path_for(self.path)

    @property
    def dirty(self) -> bool:
        """True when there are changes that `save()` has not written yet."""
        return self._dirty

    def meta(self) -> dict[str, Any]:
        """What the sidecar JSON records: enough to check compatibility without loading the index."""
        with self._lock:
            return {
                "format": _META_FORMAT,
                "dim": self.dim,
                "metric": self.metric,
                "dtype": self.dtype,
                "count": len(self._index),
                "connectivity": self._index.connectivity,
                "expansion_add": self._index.expansion_add,
                "expansion_search": self._index.expansion_search,
                "info": self.info,
            }

    def save(self) -> None:
        """Write index then meta, each to a temp file renamed over the old one (atomic on POSIX).

        A crash or error mid-write leaves the previous files intact and removes the temp file.
        The index is renamed before the meta, so after a crash between the two the meta may
        show the old `count`; `open` trusts the index header for anything that matters.
        """
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            diskio.atomic_replace_with(self.path, lambda tmp: self._index.save(str(tmp)))
            diskio.atomic_write_text(self.meta_path, json.dumps(self.meta(), indent=2, sort_keys=True) + "\n",
                                     durable=True)
            self._dirty = False

    # ------------------------------------------------------------------ contents

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, (int, np.integer)) or not 0 <= int(key) <= _MAX_KEY:
            return False
        with self._lock:
            return bool(self._index.contains(int(key)))

    def keys(self) -> np.ndarray:
        """All keys, sorted (uint64)."""
        with self._lock:
            return np.sort(np.asarray(self._index.keys, dtype=np.uint64))

    @property
    def expansion_search(self) -> int:
        """HNSW search breadth ("ef"); persisted by `save()`."""
        return int(self._index.expansion_search)

    @expansion_search.setter
    def expansion_search(self, value: int) -> None:
        if value < 1:
            raise ValueError(f"expansion_search must be >= 1, got {value}")
        with self._lock:
            self._index.expansion_search = int(value)
            self._dirty = True

    def add(self, keys: np.ndarray | Iterable[int], vectors: np.ndarray) -> None:
        """Insert vectors under `keys`; a key already present has its vector replaced.

        usearch refuses duplicate keys, so present keys are removed first (their graph slots
        are reused by the insert). Everything is validated before the index is touched.
        """
        k = _as_keys(keys)
        v = self._as_vectors(vectors, len(k))
        if len(k) == 0:
            return
        if len(np.unique(k)) != len(k):
            raise ValueError("duplicate keys in one add() call: which vector should win?")
        with self._lock:
            present = np.asarray(self._index.contains(k), dtype=bool)
            if present.any():
                self._index.remove(k[present])
            self._index.add(k, v)
            if self._dense is not None:
                self._dense.upsert(k, v)
            self._dirty = True

    def remove(self, keys: np.ndarray | Iterable[int]) -> int:
        """Remove `keys` (absent ones are ignored); returns how many were removed."""
        k = _as_keys(keys)
        if len(k) == 0:
            return 0
        with self._lock:
            removed = int(np.sum(self._index.remove(k)))
            if removed:
                if self._dense is not None:
                    self._dense.remove(k)
                self._dirty = True
            return removed

    def get(self, keys: np.ndarray | Iterable[int]) -> np.ndarray:
        """Stored unit vectors for `keys`, shape (n, dim) float32, in the order asked.

        A key that is not in the index gets a row of NaN (callers score candidate lists that
        may include papers not embedded yet; NaN scores sort nowhere and `np.isfinite` spots them).
        Exact for f32 storage. With f16 (or i8) storage these are the rounded values the
        index holds (about 3 significant digits for f16, 1/127 steps for i8), not the originals.
        """
        k = _as_keys(keys)
        with self._lock:
            if self._dense is not None:
                rows = self._dense.rows(k)
                out = np.full((len(k), self.dim), np.nan, dtype=np.float32)
                out[rows >= 0] = self._dense.vectors[rows[rows >= 0]]
                return out
            return self._gather(k, missing_ok=True)

    # ------------------------------------------------------------------ searching

    def search(self, vector: np.ndarray, k: int = 10, filter_keys: np.ndarray | None = None) -> Results:
        """Approximate top-`k` `(key, cosine similarity)`, best first, equal scores by key.

        With `filter_keys`, only those keys can be returned: a subset of at most
        `BRUTE_FORCE_MAX` keys is scanned exactly; a larger one is served from the graph by
        over-fetching in proportion to how rare the subset is, and falls back to an exact
        scan if the graph does not yield enough matching keys. Exact scans use the in-memory
        matrix of all vectors (see `_dense_view`), built by the first one that needs it.
        """
        q = self._as_query(vector)
        if k <= 0:
            return []
        with self._lock:
            n = len(self._index)
            if n == 0:
                return []
            if filter_keys is not None:
                return self._filtered_search(q, k, _as_keys(filter_keys))
            want = min(n, k + _TIE_SLACK)
            found = self._index.search(q, want, threads=1).keys.astype(np.uint64)
            return self._rank(q, found, k)

    def exact_search(self, vector: np.ndarray, k: int = 10, filter_keys: np.ndarray | None = None) -> Results:
        """Brute-force top-`k` over all keys (or `filter_keys`): the reference for recall."""
        q = self._as_query(vector)
        if k <= 0:
            return []
        with self._lock:
            dense = self._dense_view()
            if filter_keys is None:
                return _top_k(dense.keys, dense.vectors, q, k)
            rows = dense.rows(np.unique(_as_keys(filter_keys)))
            rows = rows[rows >= 0]
            return _top_k(dense.keys[rows], dense.vectors[rows], q, k)

    def calibrate(self, target_recall: float = 0.95, k: int = 10, sample: int = 200, seed: int = 0) -> int:
        """Raise `expansion_search` (doubling from the default) until `target_recall` at `k` is met.

        Queries are stored vectors (each excluded from its own answers), scored against exact
        brute force. How much search breadth a graph needs depends on the data: embeddings of
        related papers are easy, unstructured vectors are very hard, so measuring beats guessing.
        It never goes below `DEFAULT_EXPANSION_SEARCH`: stored vectors are easier queries than
        short query texts, so a breadth that is just enough for them would be too little.
        Returns the breadth chosen (also persisted by the next `save()`).
        """
        with self._lock:
            n = len(self._index)
            if n <= k + 1:
                return self.expansion_search
            dense = self._dense_view()
            rng = np.random.default_rng(seed)
            rows = rng.choice(n, size=min(sample, n), replace=False)
            queries = dense.vectors[rows]
            truth_keys: list[set[int]] = []
            for start in range(0, len(rows), 32):  # 32 query rows at a time bound the memory
                sims = queries[start : start + 32] @ dense.vectors.T
                sims[np.arange(len(sims)), rows[start : start + 32]] = -np.inf
                truth = np.argpartition(-sims, k, axis=1)[:, :k]
                truth_keys.extend(set(dense.keys[t].tolist()) for t in truth)
            ef = max(DEFAULT_EXPANSION_SEARCH, k)
            while True:
                self._index.expansion_search = ef
                got = self._index.search(queries, k + 1)
                hits = 0
                for i, row in enumerate(rows):
                    found = [key for key in got.keys[i][: k + 1].tolist() if key != int(dense.keys[row])][:k]
                    hits += len(truth_keys[i].intersection(found))
                if hits / (k * len(rows)) >= target_recall or ef >= n:
                    break
                ef *= 2
            self._dirty = True
            return ef

    # ------------------------------------------------------------------ internals

    def _filtered_search(self, q: np.ndarray, k: int, allowed: np.ndarray) -> Results:
        allowed = np.unique(allowed)
        allowed = allowed[np.asarray(self._index.contains(allowed), dtype=bool)] if len(allowed) else allowed
        m, n = len(allowed), len(self._index)
        if m == 0:
            return []
        if m > BRUTE_FORCE_MAX:
            want = k + _TIE_SLACK
            # Expect m/n of the graph's answers to be allowed; fetch 2x that, then widen.
            count = min(n, math.ceil(want * n / m * 2))
            while True:
                found = self._index.search(q, count, threads=1).keys.astype(np.uint64)
                hits = found[np.isin(found, allowed, assume_unique=True)]
                if len(hits) >= min(want, m):
                    return self._rank(q, hits, k)
                if count >= n // 4:
                    break  # past this an exact scan is cheaper than more graph search
                count = min(n, count * 4)
        dense = self._dense_view()
        return _top_k(allowed, dense.vectors[dense.rows(allowed)], q, k)

    def _rank(self, q: np.ndarray, keys: np.ndarray, k: int) -> Results:
        """Score `keys` exactly from stored vectors and keep the best `k` (ties by key)."""
        if len(keys) == 0:
            return []
        vecs = self._dense.vectors[self._dense.rows(keys)] if self._dense is not None else self._gather(keys)
        return _top_k(keys, vecs, q, k)

    def _gather(self, keys: np.ndarray, missing_ok: bool = False) -> np.ndarray:
        """Vectors for `keys` straight from usearch (one small array per key: fine for few keys).

        Missing keys raise KeyError, or give NaN rows with `missing_ok`.
        """
        out = np.full((len(keys), self.dim), np.nan, dtype=np.float32)
        if len(keys) == 0:
            return out
        for i, (key, vec) in enumerate(zip(keys, self._index.get(keys, dtype="f32"), strict=True)):
            if vec is None:
                if not missing_ok:
                    raise KeyError(f"key {int(key)} not in index")
                continue
            out[i] = vec
        return out

    def _dense_view(self) -> _Dense:
        """All vectors as one sorted matrix, built on first need and kept in step afterwards.

        Exact scans need a contiguous matrix; building it costs a pass over the index (about
        0.5 s per 100k vectors), so it is only made for exact or large filtered scans.
        """
        if self._dense is None:
            keys = self.keys()
            self._dense = _Dense(keys, self._gather(keys))
        return self._dense

    def _as_vectors(self, vectors: np.ndarray, n: int) -> np.ndarray:
        v = np.asarray(vectors, dtype=np.float32)
        if v.ndim == 1 and n == 1:
            v = v.reshape(1, -1)
        if v.ndim != 2 or v.shape != (n, self.dim):
            raise ValueError(f"expected vectors of shape ({n}, {self.dim}), got {v.shape}")
        if not np.isfinite(v).all():
            raise ValueError("vectors contain NaN or infinity")
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        if (norms == 0).any():
            raise ValueError("zero vector has no direction: cosine similarity is undefined")
        return np.ascontiguousarray(v / norms, dtype=np.float32)

    def _as_query(self, vector: np.ndarray) -> np.ndarray:
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        if q.shape != (self.dim,):
            raise ValueError(f"expected a query of {self.dim} dimensions, got {q.shape}")
        norm = float(np.linalg.norm(q))
        if not math.isfinite(norm) or norm == 0:
            raise ValueError("query must be a finite, non-zero vector")
        return q / norm


class _Dense:
    """Sorted keys with their vectors as one matrix: the fast path for exact scans."""

    def __init__(self, keys: np.ndarray, vectors: np.ndarray):
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.vectors = np.ascontiguousarray(vectors[order])

    def rows(self, keys: np.ndarray) -> np.ndarray:
        """Row of each key, -1 where absent."""
        if len(self.keys) == 0:
            return np.full(len(keys), -1, dtype=np.intp)
        # A key past the end lands on the last row, which cannot equal it.
        pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return np.where(self.keys[pos] == keys, pos, -1)

    def remove(self, keys: np.ndarray) -> None:
        keep = ~np.isin(self.keys, keys)
        self.keys, self.vectors = self.keys[keep], self.vectors[keep]

    def upsert(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        self.remove(keys)
        all_keys = np.concatenate([self.keys, keys])
        order = np.argsort(all_keys, kind="stable")
        self.keys = all_keys[order]
        self.vectors = np.concatenate([self.vectors, vectors])[order]


def _top_k(keys: np.ndarray, vectors: np.ndarray, q: np.ndarray, k: int) -> Results:
    """Best `k` of `keys` by cosine score with `q`, equal scores by ascending key.

    Final scores are dot products in float64 rounded to float32: a float32 BLAS product can
    differ in the last bit with the row's position in the matrix (blocked kernels), which
    would give one paper two scores on two paths and break exact ties. Large sets are first
    narrowed with the fast float32 product, keeping a margin far above its rounding error.
    """
    if len(keys) == 0:
        return []
    if len(keys) > 4 * (k + _TIE_SLACK):
        rough = vectors @ q
        kth = np.partition(rough, len(rough) - k)[len(rough) - k]
        cand = np.flatnonzero(rough >= kth - _ROUGH_MARGIN)
        keys, vectors = keys[cand], vectors[cand]
    scores = (vectors.astype(np.float64) @ q.astype(np.float64)).astype(np.float32)
    order = np.lexsort((keys, -scores))[:k]
    return [(int(keys[i]), float(scores[i])) for i in order]


def _as_keys(keys: np.ndarray | Iterable[int] | int) -> np.ndarray:
    """Keys as a 1-d uint64 array, refusing negatives, non-integers and usearch's reserved key."""
    if isinstance(keys, (int, np.integer)):
        keys = [int(keys)]
    arr = keys if isinstance(keys, np.ndarray) else np.asarray(list(keys))
    if arr.ndim != 1:
        raise ValueError(f"keys must be 1-d, got shape {arr.shape}")
    if arr.size == 0:
        return np.empty(0, dtype=np.uint64)
    if arr.dtype == object and all(isinstance(x, (int, np.integer)) for x in arr):
        try:  # Python ints beyond int64 make numpy fall back to object
            arr = np.array([int(x) for x in arr], dtype=np.uint64)
        except OverflowError as e:
            raise ValueError("keys must be in [0, 2**64-2]") from e
    if arr.dtype.kind == "i":
        if arr.min() < 0:
            raise ValueError("keys must be non-negative")
    elif arr.dtype.kind != "u":
        raise ValueError(f"keys must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.uint64, copy=False)
    if arr.max() > _MAX_KEY:
        raise ValueError("key 2**64-1 is reserved by usearch")
    return arr


def _read_meta(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise VectorIndexError(f"{path}: unreadable index meta ({e}); delete it to use the index") from e
    if not isinstance(meta, dict):
        raise VectorIndexError(f"{path}: index meta is not a JSON object")
    return meta
