"""Approximate nearest-neighbour index over paper embeddings (faiss HNSW, cosine), crash-safe on disk.

Why faiss and not usearch (used until 2026-12): `import usearch.index` followed by `import onnxruntime`
kills the interpreter (SIGSEGV in native code; usearch 2.26.6 with onnxruntime 1.31.1/1.32.0), and the
embedder needs ONNX Runtime (paperfeed/search/onnx_encoder.py).  faiss-cpu 1.15.1 imports beside it
in either order (tests/test_vectors.py runs both orders in fresh interpreters).  Measured against usearch
on the 74,728 embedded papers of the shared corpus, short text queries, recall@10 against exact search:
see bench/README.md ("Vector index"), rerun with `bench/search_latency.py --engines faiss,usearch`.

The index is derived data (rebuildable from the store), but rebuilding 10^5 papers costs minutes of
embedding, so it is persisted and must survive crashes: `save()` writes one temp file and renames it
over the old one, so a reader or a restart only ever sees a whole index.

faiss's HNSW graph cannot delete a node, so a removed or replaced key leaves a tombstone: its row stays
in the graph but is masked out of every search (a bitmap selector); once tombstones pass a quarter of the
rows the graph is rebuilt from the live vectors.  Rows map to our uint64 keys through an array saved in
the same file.

Storage is f32 (1.5 KiB a paper): `get()` is then bit-exact and a paper scored from the index and from
the store's embedding gets the same score; "f16" and "i8" (faiss scalar quantisers) remain available
for a much larger corpus.  Scores are cosine similarities computed by one numpy function for every path
(graph, filtered, brute force), so the same paper gets the same score whichever way it was found, and
ties are broken by key, so results are reproducible.
"""

from __future__ import annotations

import io
import json
import math
import struct
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from paperfeed import diskio, process_settings

# faiss builds the graph on OpenMP threads; by default they spin at every barrier, which on a shared
# 2-core machine (web workers, the embedder) stalls each parallel step on a descheduled thread.  Read
# when faiss loads its OpenMP runtime, hence before the import; a value set by the user wins.
process_settings.set_defaults({"OMP_WAIT_POLICY": "PASSIVE"})
import faiss  # noqa: E402

METRIC = "cos"
DTYPES = ("f32", "f16", "i8")
DEFAULT_DTYPE = "f32"
# HNSW "M": 16 links a node; 32 doubles build time for little gain on embeddings (measured with usearch).
DEFAULT_CONNECTIVITY = 16
DEFAULT_EXPANSION_ADD = 128
# Search breadth ("ef"), measured with short text queries (title spans) against exact search on the
# 74,728 embedded papers of the shared corpus (bench/search_latency.py reports it): 384 keeps text
# queries above 0.95 recall@10 with margin (see bench/README.md); `calibrate()` raises it further for
# data that needs more (e.g. random vectors).
DEFAULT_EXPANSION_SEARCH = 384
# A filtered search over at most this many keys is answered exactly (a gather and one
# matrix-vector product, well under a millisecond); larger subsets search the graph with a selector.
BRUTE_FORCE_MAX = 8192
# Extra neighbours fetched beyond k so that equal scores at the cut are ordered by key.
_TIE_SLACK = 8
# float32 dot products of 384-d unit vectors are off by ~1e-6 at most; candidates within this
# of the k-th rough score are rescored exactly.
_ROUGH_MARGIN = 1e-4
# Tombstones (removed or replaced rows) allowed before the graph is rebuilt from the live rows.
_COMPACT_FRACTION = 0.25
_COMPACT_MIN = 1024
_META_FORMAT = 2
_MAGIC = b"PAPERFEED-FAISS-HNSW\n"
_HEADER = struct.Struct("<Q")  # length of the JSON header that follows the magic
_QUANTISERS = {"f16": "QT_fp16", "i8": "QT_8bit"}
# The largest u64 stays reserved, as it was with usearch, so keys mean the same in either format.
_MAX_KEY = np.iinfo(np.uint64).max - 1

Results = list[tuple[int, float]]


class VectorIndexError(Exception):
    """The index file cannot be used: unreadable, corrupt, or its sidecar meta is broken."""


class IndexMismatchError(VectorIndexError, ValueError):
    """The index on disk was built for other vectors (dimension, metric or storage type)."""


def meta_path_for(path: Path) -> Path:
    """Sidecar JSON next to the index: `papers.faiss` -> `papers.faiss.meta.json`."""
    return path.with_name(path.name + ".meta.json")


def _new_graph(dim: int, dtype: str, connectivity: int, expansion_add: int) -> Any:
    if dtype == "f32":
        graph = faiss.IndexHNSWFlat(dim, connectivity, faiss.METRIC_INNER_PRODUCT)
    else:
        qtype = getattr(faiss.ScalarQuantizer, _QUANTISERS[dtype])
        graph = faiss.IndexHNSWSQ(dim, qtype, connectivity, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = expansion_add
    return graph


class VectorIndex:
    """Cosine HNSW index from uint64 keys to unit vectors, persisted at `path`.

    Use `VectorIndex.open(path)`. Vectors are L2-normalised on `add`, so `get` returns unit
    vectors and similarities are plain dot products. All methods are thread-safe (one lock:
    a search takes a few milliseconds at most, so finer locking would not pay for itself).
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
        self._connectivity = connectivity
        self._expansion_add = expansion_add
        self._expansion_search = expansion_search
        self._graph = _new_graph(dim, dtype, connectivity, expansion_add)
        self._row_keys = np.empty(0, dtype=np.uint64)  # key of every graph row (tombstones included)
        self._live = np.empty(0, dtype=bool)  # False for a tombstone
        self._rows: dict[int, int] = {}  # key -> its live row
        self._lock = threading.RLock()
        self._decoded: np.ndarray | None = None  # all rows decoded (f16/i8 storage only), built on need
        self._bitmap: Any = None  # (packed bits, selector) of the live rows, while tombstones exist
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
        two models would return nonsense neighbours rather than fail; `VectorIndexError` when the
        file is not a whole index of this format. `connectivity` only applies to a new index
        (a built graph keeps its own); the expansion settings, when not given, come from the meta.
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
        hint = f"delete {path} and {meta_path_for(path).name} to rebuild it"
        try:
            with open(path, "rb") as f:
                header = _read_header(f, path)
                file_dim, file_metric, file_dtype = int(header["dim"]), header["metric"], header["dtype"]
                if file_dim != dim:
                    raise IndexMismatchError(f"{path}: index holds {file_dim}-d vectors, expected {dim}-d ({hint})")
                if file_metric != METRIC:
                    raise IndexMismatchError(f"{path}: index uses metric {file_metric}, expected {METRIC} ({hint})")
                if dtype is not None and dtype != file_dtype:
                    raise IndexMismatchError(f"{path}: index stores {file_dtype}, asked for {dtype} ({hint})")
                if file_dtype not in DTYPES:
                    raise IndexMismatchError(f"{path}: unsupported storage type {file_dtype} ({hint})")
                if meta and (meta.get("dim", dim) != dim or meta.get("metric", METRIC) != METRIC):
                    raise IndexMismatchError(
                        f"{meta_path_for(path)}: meta says dim={meta.get('dim')} metric={meta.get('metric')}, "
                        f"expected dim={dim} metric={METRIC} ({hint})"
                    )
                rows = int(header["rows"])
                row_keys = np.frombuffer(_read_exact(f, 8 * rows, path), dtype="<u8").astype(np.uint64)
                live = np.frombuffer(_read_exact(f, rows, path), dtype=np.uint8).astype(bool)
                graph = faiss.read_index(faiss.PyCallbackIOReader(f.read))
        except VectorIndexError:
            raise
        except (ValueError, RuntimeError, OSError, KeyError, TypeError) as e:
            raise VectorIndexError(f"{path}: not a readable paperfeed vector index ({e}; {hint})") from e
        if graph.ntotal != rows or graph.d != dim:
            raise VectorIndexError(f"{path}: index is truncated or inconsistent ({graph.ntotal} rows, {rows} keys)")
        ea = expansion_add or int(meta.get("expansion_add", header.get("expansion_add", DEFAULT_EXPANSION_ADD)))
        es = expansion_search or int(meta.get("expansion_search", DEFAULT_EXPANSION_SEARCH))
        self = cls(path, dim, dtype=file_dtype, connectivity=int(header.get("connectivity", DEFAULT_CONNECTIVITY)),
                   expansion_add=ea, expansion_search=es, info=meta.get("info") or {})
        graph.hnsw.efConstruction = ea
        self._graph, self._row_keys, self._live = graph, row_keys, live
        self._rows = {int(k): int(r) for r, k in zip(np.flatnonzero(live), row_keys[live], strict=True)}
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
                "engine": f"faiss-{faiss.__version__}-hnsw",
                "dim": self.dim,
                "metric": self.metric,
                "dtype": self.dtype,
                "count": len(self._rows),
                "connectivity": self._connectivity,
                "expansion_add": self._expansion_add,
                "expansion_search": self._expansion_search,
                "info": self.info,
            }

    def save(self) -> None:
        """Write index then meta, each to a temp file renamed over the old one (atomic on POSIX).

        A crash or error mid-write leaves the previous files intact and removes the temp file.
        The index is renamed before the meta, so after a crash between the two the meta may
        show the old `count`; `open` trusts the index file's own header for anything that matters.
        """
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            diskio.atomic_replace_with(self.path, self._write_file)
            diskio.atomic_write_text(self.meta_path, json.dumps(self.meta(), indent=2, sort_keys=True) + "\n",
                                     durable=True)
            self._dirty = False

    def _write_file(self, path: Path) -> None:
        with open(path, "wb") as f:
            self._write(f)

    def _write(self, f: BinaryIO) -> None:
        header = json.dumps({"dim": self.dim, "metric": self.metric, "dtype": self.dtype,
                             "rows": int(self._graph.ntotal), "connectivity": self._connectivity,
                             "expansion_add": self._expansion_add}).encode()
        f.write(_MAGIC + _HEADER.pack(len(header)) + header)
        f.write(self._row_keys.astype("<u8").tobytes())
        f.write(self._live.astype(np.uint8).tobytes())
        faiss.write_index(self._graph, faiss.PyCallbackIOWriter(f.write))

    # ------------------------------------------------------------------ contents

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, (int, np.integer)) or not 0 <= int(key) <= _MAX_KEY:
            return False
        with self._lock:
            return int(key) in self._rows

    def keys(self) -> np.ndarray:
        """All keys, sorted (uint64)."""
        with self._lock:
            return np.sort(self._row_keys[self._live])

    @property
    def expansion_search(self) -> int:
        """HNSW search breadth ("ef"); persisted by `save()`."""
        return int(self._expansion_search)

    @expansion_search.setter
    def expansion_search(self, value: int) -> None:
        if value < 1:
            raise ValueError(f"expansion_search must be >= 1, got {value}")
        with self._lock:
            self._expansion_search = int(value)
            self._dirty = True

    def add(self, keys: np.ndarray | Iterable[int], vectors: np.ndarray) -> None:
        """Insert vectors under `keys`; a key already present has its vector replaced.

        The old row of a replaced key becomes a tombstone (masked out of searches). Everything is
        validated before the index is touched.
        """
        k = _as_keys(keys)
        v = self._as_vectors(vectors, len(k))
        if len(k) == 0:
            return
        if len(np.unique(k)) != len(k):
            raise ValueError("duplicate keys in one add() call: which vector should win?")
        with self._lock:
            self._bury(k)
            start = int(self._graph.ntotal)
            self._graph.add(v)
            self._row_keys = np.concatenate([self._row_keys, k])
            self._live = np.concatenate([self._live, np.ones(len(k), dtype=bool)])
            self._rows.update(zip(k.tolist(), range(start, start + len(k)), strict=True))
            self._changed()
            self._compact_if_needed()

    def remove(self, keys: np.ndarray | Iterable[int]) -> int:
        """Remove `keys` (absent ones are ignored); returns how many were removed."""
        k = _as_keys(keys)
        if len(k) == 0:
            return 0
        with self._lock:
            removed = self._bury(k)
            if removed:
                self._changed()
                self._compact_if_needed()
            return removed

    def get(self, keys: np.ndarray | Iterable[int]) -> np.ndarray:
        """Stored unit vectors for `keys`, shape (n, dim) float32, in the order asked.

        A key that is not in the index gets a row of NaN (callers score candidate lists that
        may include papers not embedded yet; NaN scores sort nowhere and `np.isfinite` spots them).
        Exact for f32 storage. With f16 (or i8) storage these are the rounded values the
        index holds (about 3 significant digits for f16, 1/255 steps for i8), not the originals.
        """
        k = _as_keys(keys)
        with self._lock:
            rows = self._rows_of(k)
            out = np.full((len(k), self.dim), np.nan, dtype=np.float32)
            if (rows >= 0).any():
                out[rows >= 0] = self._vectors_at(rows[rows >= 0])
            return out

    # ------------------------------------------------------------------ searching

    def search(self, vector: np.ndarray, k: int = 10, filter_keys: np.ndarray | None = None) -> Results:
        """Approximate top-`k` `(key, cosine similarity)`, best first, equal scores by key.

        With `filter_keys`, only those keys can be returned: a subset of at most
        `BRUTE_FORCE_MAX` keys is scanned exactly; a larger one is searched in the graph with a
        selector (with a breadth widened in proportion to how rare the subset is), and falls back
        to an exact scan if the graph does not yield enough matching keys.
        """
        q = self._as_query(vector)
        if k <= 0:
            return []
        with self._lock:
            n = len(self._rows)
            if n == 0:
                return []
            if filter_keys is not None:
                return self._filtered_search(q, k, _as_keys(filter_keys))
            want = min(n, k + _TIE_SLACK)
            rows = self._graph_search(q, want, self._expansion_search, self._live_selector())
            return self._rank(q, rows, k)

    def exact_search(self, vector: np.ndarray, k: int = 10, filter_keys: np.ndarray | None = None) -> Results:
        """Brute-force top-`k` over all keys (or `filter_keys`): the reference for recall."""
        q = self._as_query(vector)
        if k <= 0:
            return []
        with self._lock:
            if filter_keys is None:
                rows = np.flatnonzero(self._live)
            else:
                rows = self._rows_of(np.unique(_as_keys(filter_keys)))
                rows = rows[rows >= 0]
            return self._rank(q, rows, k)

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
            n = len(self._rows)
            if n <= k + 1:
                return self.expansion_search
            live = np.flatnonzero(self._live)
            vectors = self._vectors_at(live)
            rng = np.random.default_rng(seed)
            picks = rng.choice(n, size=min(sample, n), replace=False)
            queries = vectors[picks]
            truth: list[set[int]] = []
            for start in range(0, len(picks), 32):  # 32 query rows at a time bound the memory
                sims = queries[start : start + 32] @ vectors.T
                sims[np.arange(len(sims)), picks[start : start + 32]] = -np.inf
                top = np.argpartition(-sims, k, axis=1)[:, :k]
                truth.extend(set(live[t].tolist()) for t in top)
            ef = max(DEFAULT_EXPANSION_SEARCH, k)
            sel = self._live_selector()
            while True:
                hits = 0
                for i, p in enumerate(picks):
                    found = self._graph_search(queries[i], k + 1, ef, sel)
                    hits += len(truth[i].intersection([r for r in found.tolist() if r != live[p]][:k]))
                if hits / (k * len(picks)) >= target_recall or ef >= n:
                    break
                ef *= 2
            self._expansion_search = ef
            self._dirty = True
            return ef

    # ------------------------------------------------------------------ internals

    def _graph_search(self, q: np.ndarray, count: int, ef: int, selector: Any) -> np.ndarray:
        """Rows of the graph's best `count` for `q` among the selected rows (all live rows if None)."""
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(ef, count)
        if selector is not None:
            params.sel = selector
        _, rows = self._graph.search(q.reshape(1, -1), count, params=params)
        rows = rows[0]
        return rows[rows >= 0]

    def _filtered_search(self, q: np.ndarray, k: int, allowed: np.ndarray) -> Results:
        rows = self._rows_of(np.unique(allowed)) if len(allowed) else np.empty(0, dtype=np.int64)
        rows = rows[rows >= 0]
        m, n = len(rows), len(self._rows)
        if m == 0:
            return []
        if m > BRUTE_FORCE_MAX:
            want = k + _TIE_SLACK
            bits = _bitmap(rows, int(self._graph.ntotal))
            selector = faiss.IDSelectorBitmap(int(self._graph.ntotal), faiss.swig_ptr(bits))
            # A rare subset needs a wider search: about n/m graph nodes are visited per allowed one.
            ef = min(n // 4, max(self._expansion_search, math.ceil(want * n / m * 2)))
            found = self._graph_search(q, want, ef, selector)
            if len(found) >= min(want, m):
                return self._rank(q, found, k)
        return self._rank(q, rows, k)

    def _rank(self, q: np.ndarray, rows: np.ndarray, k: int) -> Results:
        """Score `rows` exactly from stored vectors and keep the best `k` (ties by key)."""
        if len(rows) == 0:
            return []
        return _top_k(self._row_keys[rows], self._vectors_at(rows), q, k)

    def _vectors_at(self, rows: np.ndarray) -> np.ndarray:
        """Stored vectors of graph `rows` (float32; decoded for f16/i8 storage)."""
        ntotal = int(self._graph.ntotal)
        if self.dtype == "f32":
            storage = faiss.downcast_index(self._graph.storage)
            view = faiss.rev_swig_ptr(storage.get_xb(), ntotal * self.dim).reshape(ntotal, self.dim)
            return view[rows]
        if self._decoded is None or len(self._decoded) != ntotal:
            self._decoded = self._graph.reconstruct_n(0, ntotal) if ntotal else np.empty((0, self.dim), np.float32)
        return self._decoded[rows]

    def _rows_of(self, keys: np.ndarray) -> np.ndarray:
        """Live row of each key, -1 where absent."""
        get = self._rows.get
        return np.fromiter((get(int(key), -1) for key in keys.tolist()), dtype=np.int64, count=len(keys))

    def _bury(self, keys: np.ndarray) -> int:
        """Turn the rows of `keys` that are present into tombstones; returns how many."""
        rows = [self._rows.pop(key) for key in keys.tolist() if key in self._rows]
        if rows:
            self._live[rows] = False
        return len(rows)

    def _changed(self) -> None:
        self._dirty = True
        self._bitmap = None
        self._decoded = None

    def _live_selector(self) -> Any:
        """A selector of the live rows, or None when there are no tombstones (the fast path)."""
        ntotal = int(self._graph.ntotal)
        if len(self._rows) == ntotal:
            return None
        if self._bitmap is None:
            bits = _bitmap(np.flatnonzero(self._live), ntotal)
            self._bitmap = (bits, faiss.IDSelectorBitmap(ntotal, faiss.swig_ptr(bits)))  # bits must outlive it
        return self._bitmap[1]

    def _compact_if_needed(self) -> None:
        """Rebuild the graph from the live rows once tombstones pass a quarter of it (in key order)."""
        ntotal = int(self._graph.ntotal)
        dead = ntotal - len(self._rows)
        if dead < max(_COMPACT_MIN, _COMPACT_FRACTION * ntotal):
            return
        live = np.flatnonzero(self._live)
        order = live[np.argsort(self._row_keys[live], kind="stable")]
        vectors = np.ascontiguousarray(self._vectors_at(order))
        keys = self._row_keys[order]
        graph = _new_graph(self.dim, self.dtype, self._connectivity, self._expansion_add)
        graph.add(vectors)
        self._graph, self._row_keys, self._live = graph, keys, np.ones(len(keys), dtype=bool)
        self._rows = dict(zip(keys.tolist(), range(len(keys)), strict=True))
        self._changed()

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
        return np.ascontiguousarray(q / norm, dtype=np.float32)


def _bitmap(rows: np.ndarray, ntotal: int) -> np.ndarray:
    """faiss's IDSelectorBitmap layout: bit (row % 8) of byte (row // 8), least significant first."""
    flags = np.zeros(ntotal, dtype=bool)
    flags[rows] = True
    return np.packbits(flags, bitorder="little")


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
    """Keys as a 1-d uint64 array, refusing negatives, non-integers and the reserved key."""
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
        raise ValueError("key 2**64-1 is reserved")
    return arr


def _read_header(f: BinaryIO, path: Path) -> dict[str, Any]:
    magic = f.read(len(_MAGIC))
    if magic != _MAGIC:
        raise VectorIndexError(f"{path}: not a paperfeed vector index (an index of an older version, "
                               f"or another file); delete it and its .meta.json to rebuild it")
    (size,) = _HEADER.unpack(_read_exact(f, _HEADER.size, path))
    if size > 1 << 20:
        raise VectorIndexError(f"{path}: corrupt index header")
    header = json.loads(_read_exact(f, size, path))
    if not isinstance(header, dict):
        raise VectorIndexError(f"{path}: corrupt index header")
    return header


def _read_exact(f: BinaryIO | io.BytesIO, n: int, path: Path) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise VectorIndexError(f"{path}: index file is truncated")
    return data


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
