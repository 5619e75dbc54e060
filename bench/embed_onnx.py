"""Paper embedding through torch and ONNX Runtime graphs (fp32, dynamic int8 variants): speed and fidelity.

Every graph is built here from the packaged weights (paperfeed.search.onnx_encoder.export, then
onnxruntime.quantization), never downloaded.  Texts are `embedding_text(title, abstract)` of a random
sample of the shared corpus (its real length distribution: mean ~242 tokens of the 256 the model reads),
sorted by token length and cut into batches, as `Embedder.embed` does.  For each variant: papers/s
(wall), CPU ms per paper (process time: what load on a shared machine distorts least), mean and min
cosine against the fp32 reference vectors (../shared/data/*.minilm.npz), and top-10 neighbour agreement
with the reference within the sample (the issue's criterion is >= 0.95 on 10,000 papers: `--n 10000`).

    PYTHONPATH=. .venv/bin/python bench/embed_onnx.py                      # 1,000 papers, ~6 min on 2 idle cores
    PYTHONPATH=. .venv/bin/python bench/embed_onnx.py --variants torch@1,torch@2,fp32@2 --batch 16
    PYTHONPATH=. .venv/bin/python bench/embed_onnx.py --n 10000 --variants int8-pc-noffnout@2

Variants: torch@T, fp32@T (ONNX Runtime, all graph optimisations), opt@T (fp32 through onnxruntime.transformers'
BERT optimizer: fused Attention, SkipLayerNorm, BiasGelu), int8-pc (MatMul weights per-channel int8, activations
quantised at run time), int8-pt (per-tensor), suffixes -rr (reduce_range, 7-bit weights: ORT's fix for u8s8
saturation on AVX2 without VNNI), -u8u8 (unsigned weights), -noffnout (the six FFN output projections kept fp32),
-noatt (attention score products fp32), -nol0 / -nol5 (layer 0 / 5 fp32); qdq-pc-minmax|entropy|pct (static QDQ,
activations calibrated on 64 corpus papers drawn with seed 1); opt-int8-pc (optimizer, then dynamic int8 incl.
QAttention); @T = intra-op threads.  Measured 2026-12-02 (bench/README.md): no int8 variant keeps 0.95 top-10
agreement (best 0.93, FFN outputs fp32); reduce_range and u8u8 do not help (0.909 / 0.912 vs 0.911 on 300
papers), static MinMax QDQ drops to 0.74; one thread per process costs 26% less CPU than two for int8.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from paperfeed.models import embedding_text  # noqa: E402
from paperfeed.search.embedder import Embedder  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ALL = "torch@2,fp32@2,int8-pc@2,int8-pt@2,int8-pc-noffnout@2,int8-pc-noatt@2"


def sample(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    with gzip.open(DATA / "arxiv-cs-2025-2026.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    pick = np.random.default_rng(seed).choice(len(rows), min(n, len(rows)), replace=False)
    return ([embedding_text(rows[i]["title"], rows[i].get("abstract") or "") for i in pick],
            [rows[i]["id"] for i in pick])


def reference(ids: list[str]) -> np.ndarray:
    ref = np.load(DATA / "arxiv-cs-2025-2026.minilm.npz")
    pos = {k: i for i, k in enumerate(ref["ids"].tolist())}
    v = ref["vectors"][[pos[i] for i in ids]].astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def calibration_feeds(tokenizer: object, n: int = 64, seed: int = 1, pad: bool = False) -> list[dict[str, np.ndarray]]:
    """One feed per text for static calibration: corpus papers from another seed than the benchmark sample.
    `pad`: every feed 256 tokens long (the histogram calibrators stack tensors and need one shape)."""
    texts, _ = sample(n, seed=seed)
    feeds = []
    for t in texts:
        enc = tokenizer([t], return_tensors="np", truncation=True, max_length=256,  # type: ignore[operator]
                        padding="max_length" if pad else False)
        ids = np.asarray(enc["input_ids"], dtype=np.int64)
        feeds.append({"input_ids": ids, "attention_mask": np.asarray(enc["attention_mask"], dtype=np.int64),
                      "token_type_ids": np.zeros_like(ids)})
    return feeds


def optimized(fp32: Path, out: Path) -> Path:
    """fp32 graph through onnxruntime.transformers' BERT optimizer (fused Attention, SkipLayerNorm, BiasGelu)."""
    path = out / "opt.onnx"
    if not path.exists():
        from onnxruntime.transformers import optimizer

        m = optimizer.optimize_model(str(fp32), model_type="bert", num_heads=12, hidden_size=384, opt_level=1)
        m.save_model_to_file(str(path))
    return path


def build(kind: str, fp32: Path, out: Path, tokenizer: object = None) -> Path:
    """Variant name -> graph file.  Tokens: opt (BERT optimizer first), int8/dyn (dynamic) or qdq-minmax|entropy|pct
    (static, calibrated on 64 corpus papers), pc (per-channel), rr (reduce_range: 7-bit weights, no u8s8
    saturation on AVX2), u8u8 (unsigned weights), noffnout / noatt / nol0 / nol5 (keep those nodes fp32)."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static

    parts = kind.split("-")
    src = optimized(fp32, out) if "opt" in parts else fp32
    if parts in (["fp32"], ["opt"]):
        return src
    path = out / f"{kind}.onnx"
    if path.exists():
        return path
    nodes = onnx.load(str(src)).graph.node
    matmuls = [n.name for n in nodes if n.op_type in ("MatMul", "Attention")]
    exclude: list[str] = []
    if "noffnout" in parts:
        exclude += [n for n in matmuls if "/output/dense/" in n and "attention" not in n]
    if "noatt" in parts:
        exclude += [n for n in matmuls if n.endswith(("self/MatMul", "self/MatMul_1"))]
    for layer in ("0", "5"):
        if f"nol{layer}" in parts:
            exclude += [n for n in matmuls if f"/layer.{layer}/" in n]
    ops = ["MatMul", "Attention"] if "opt" in parts else ["MatMul"]
    weight = QuantType.QUInt8 if "u8u8" in parts else QuantType.QInt8
    common = {"per_channel": "pc" in parts, "reduce_range": "rr" in parts, "nodes_to_exclude": exclude,
              "op_types_to_quantize": ops}
    if "opt" in parts:  # the optimizer's contrib ops defeat shape inference; their outputs are float
        common["extra_options"] = {"DefaultTensorType": onnx.TensorProto.FLOAT}
    if "qdq" in parts:
        method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                  "pct": CalibrationMethod.Percentile}[next(p for p in parts if p in ("minmax", "entropy", "pct"))]
        feeds = iter(calibration_feeds(tokenizer, pad=method != CalibrationMethod.MinMax))

        class Reader:
            def get_next(self) -> dict[str, np.ndarray] | None:
                return next(feeds, None)

        quantize_static(str(src), str(path), Reader(), quant_format=QuantFormat.QDQ, weight_type=weight,
                        activation_type=QuantType.QUInt8 if "au8" in parts else QuantType.QInt8,
                        calibrate_method=method, **common)
    else:
        quantize_dynamic(str(src), str(path), weight_type=weight, **common)
    return path


def top10(v: np.ndarray) -> np.ndarray:
    out = np.empty((len(v), 10), dtype=np.int64)
    for s in range(0, len(v), 1000):
        sims = v[s : s + 1000] @ v.T
        sims[np.arange(len(sims)), np.arange(s, s + len(sims))] = -np.inf
        out[s : s + 1000] = np.argpartition(-sims, 10, axis=1)[:, :10]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--variants", default=ALL)
    ap.add_argument("--graphs", type=Path, default=None, help="keep built graphs here (default: a temp dir)")
    args = ap.parse_args()
    from paperfeed.search import onnx_encoder

    texts, ids = sample(args.n)
    ref = reference(ids)
    ref_top = top10(ref)
    emb = Embedder()
    lens = emb.token_lengths(texts)
    order = np.argsort(-lens, kind="stable")
    print(f"{len(texts)} papers, tokens mean {lens.mean():.1f} p50 {np.median(lens):.0f}; batch {args.batch}; "
          f"load {os.getloadavg()}", flush=True)
    graphs = args.graphs or Path(tempfile.mkdtemp(prefix="embed-onnx-"))
    graphs.mkdir(parents=True, exist_ok=True)
    fp32 = graphs / "fp32.onnx"
    if not fp32.exists():
        onnx_encoder.export(emb._model, fp32)
    print(f"{'variant':24} {'papers/s':>9} {'cpu ms/paper':>13} {'cos mean':>9} {'cos min':>8} {'top-10':>7}  load")
    for variant in args.variants.split(","):
        kind, _, t = variant.partition("@")
        threads = int(t or 2)
        if kind == "torch":
            import torch

            torch.set_num_threads(threads)
            run = lambda: emb.embed(texts, batch_size=args.batch)  # noqa: E731
        else:
            graph = build(kind, fp32, graphs, emb._model.tokenizer)
            enc = onnx_encoder.OnnxEncoder(graph, emb._model.tokenizer, emb.max_seq_length, threads=threads)

            def run(enc: onnx_encoder.OnnxEncoder = enc) -> np.ndarray:
                out = np.empty((len(texts), 384), dtype=np.float32)
                for s in range(0, len(texts), args.batch):
                    idx = order[s : s + args.batch]
                    out[idx] = enc.encode_batch([texts[i] for i in idx])
                return out
        c0, t0 = time.process_time(), time.perf_counter()
        v = run()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        cos = np.sum(v * ref, axis=1)
        agree = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top10(v), ref_top, strict=True)])
        print(f"{variant:24} {len(texts) / wall:9.1f} {1000 * cpu / len(texts):13.1f} {cos.mean():9.5f} "
              f"{cos.min():8.5f} {agree:7.4f}  {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
