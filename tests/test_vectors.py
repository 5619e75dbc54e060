"""The ANN index: recall against brute force, persistence, replacement, filters, crash-safe saves."""

from __future__ import annotations

import gzip
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from paperfeed.models import embedding_text
from paperfeed.search.vectors import (
    BRUTE_FORCE_MAX,
    DEFAULT_EXPANSION_SEARCH,
    IndexMismatchError,
    VectorIndex,
    VectorIndexError,
)

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv-cs-2025-2026.jsonl.gz"
DIM = 384


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def recall_at(index: VectorIndex, queries: np.ndarray, k: int = 10, **kw: object) -> float:
    hits = 0
    for q in queries:
        approx = {key for key, _ in index.search(q, k, **kw)}
        exact = {key for key, _ in index.exact_search(q, k, **kw)}
        hits += len(approx & exact)
    return hits / (k * len(queries))


@pytest.fixture(scope="module")
def random_index(tmp_path_factory: pytest.TempPathFactory) -> VectorIndex:
    """20k random unit vectors, keys 0..19999, search breadth calibrated (~15 s on 2 cores).

    Independent random vectors in 384-d are the worst case for a graph index: a query's 10th
    neighbour is barely closer than the median vector, so the default search breadth (tuned
    on real embeddings) finds only ~40% of them. `calibrate()` measures that on stored
    vectors and widens the search until the target recall is met.
    """
    index = VectorIndex.open(tmp_path_factory.mktemp("rand") / "r.idx")
    index.add(np.arange(20_000, dtype=np.uint64), unit(np.random.default_rng(1), 20_000))
    index.calibrate(target_recall=0.985)  # margin: a multi-threaded build is not bit-for-bit repeatable
    return index


def test_recall_on_20k_random_unit_vectors(random_index: VectorIndex) -> None:
    assert random_index.expansion_search > DEFAULT_EXPANSION_SEARCH  # calibration had to widen it
    queries = unit(np.random.default_rng(2), 200)  # fresh queries, not the calibration sample
    assert recall_at(random_index, queries) >= 0.95


def test_large_filter_uses_the_graph_and_keeps_recall(random_index: VectorIndex) -> None:
    rng = np.random.default_rng(3)
    allowed = np.sort(rng.choice(20_000, size=BRUTE_FORCE_MAX * 2, replace=False)).astype(np.uint64)
    allowed_set = set(allowed.tolist())
    queries = unit(rng, 50)
    for q in queries[:5]:
        got = random_index.search(q, 10, filter_keys=allowed)
        assert len(got) == 10
        assert all(key in allowed_set for key, _ in got)
    assert recall_at(random_index, queries, filter_keys=allowed) >= 0.95


@pytest.fixture(scope="module")
def real_vectors() -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of ~1,000 corpus papers, and of 100 of their titles as queries."""
    if not CORPUS.exists():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    from paperfeed.search.embedder import get_embedder

    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        records = [r for r in (json.loads(line) for line in itertools.islice(f, 1100)) if r.get("abstract")]
    records = records[:1000]
    emb = get_embedder()
    papers = emb.embed([embedding_text(r["title"], r["abstract"]) for r in records])
    titles = emb.embed([r["title"] for r in records[::10]])
    return papers, titles


def test_recall_on_real_embeddings(real_vectors: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    papers, titles = real_vectors
    index = VectorIndex.open(tmp_path / "real.idx")
    index.add(np.arange(len(papers), dtype=np.uint64), papers)
    assert index.expansion_search == DEFAULT_EXPANSION_SEARCH  # defaults, no calibration
    assert recall_at(index, titles) >= 0.95
    assert recall_at(index, papers[::10]) >= 0.95
    # Scores are the cosine similarities of the embeddings themselves.
    key, score = index.search(titles[0], 1)[0]
    assert score == pytest.approx(float(papers[key] @ titles[0]), abs=1e-5)


def test_incremental_add_save_reopen_gives_the_same_results(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    vectors = unit(rng, 2_000)
    queries = unit(rng, 20)
    path = tmp_path / "inc.idx"
    for chunk in range(4):  # four indexing runs, each reopening what the last one saved
        index = VectorIndex.open(path)
        assert len(index) == chunk * 500
        keys = np.arange(chunk * 500, (chunk + 1) * 500, dtype=np.uint64)
        index.add(keys, vectors[keys])
        index.save()
        assert not index.dirty
    before = [index.search(q, 10) for q in queries]
    reopened = VectorIndex.open(path)
    assert len(reopened) == 2_000
    assert [reopened.search(q, 10) for q in queries] == before
    np.testing.assert_allclose(reopened.get(np.array([0, 1999])), vectors[[0, 1999]], atol=1e-6)
    assert json.loads(reopened.meta_path.read_text())["count"] == 2_000


def test_adding_an_existing_key_replaces_its_vector(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    vectors = unit(rng, 300)
    index = VectorIndex.open(tmp_path / "rep.idx")
    index.add(np.arange(300), vectors)
    new = unit(rng, 1)[0]
    index.add([42], new[None, :] * 3.0)  # any length: stored normalised
    assert len(index) == 300
    np.testing.assert_allclose(index.get([42])[0], new, atol=1e-6)
    assert index.search(new, 1)[0][0] == 42
    assert 42 not in {key for key, _ in index.search(vectors[42], 5)}
    index.save()
    reopened = VectorIndex.open(tmp_path / "rep.idx")
    np.testing.assert_allclose(reopened.get([42])[0], new, atol=1e-6)
    with pytest.raises(ValueError, match="duplicate"):
        index.add([7, 7], vectors[:2])


def test_remove_and_missing_keys(tmp_path: Path) -> None:
    vectors = unit(np.random.default_rng(6), 100)
    index = VectorIndex.open(tmp_path / "rm.idx")
    index.add(np.arange(100), vectors)
    assert index.remove(np.array([3, 4, 1000])) == 2
    assert len(index) == 98
    assert 3 not in index and 5 in index
    assert all(key not in (3, 4) for key, _ in index.search(vectors[3], 20))
    got = index.get([5, 3])
    np.testing.assert_allclose(got[0], vectors[5], atol=1e-6)
    assert np.isnan(got[1]).all()  # missing key: a NaN row, not an exception
    index.exact_search(vectors[0], 1)  # builds the dense copy; it must follow later changes
    index.remove([5])
    index.add([3], vectors[3])
    assert np.isnan(index.get([5])).all()
    assert index.exact_search(vectors[3], 1)[0][0] == 3
    assert index.search(vectors[5], 3, filter_keys=np.array([5, 6]))[0][0] == 6


def test_filter_keys_search_only_among_those_keys(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    vectors = unit(rng, 3_000)
    index = VectorIndex.open(tmp_path / "flt.idx")
    index.add(np.arange(3_000), vectors)
    allowed = np.array([10, 20, 30, 40, 50, 99_999], dtype=np.uint64)  # 99_999 is not indexed
    got = index.search(vectors[20], 10, filter_keys=allowed)
    assert [key for key, _ in got][0] == 20
    assert {key for key, _ in got} == {10, 20, 30, 40, 50}
    assert got == index.exact_search(vectors[20], 10, filter_keys=allowed)
    assert index.search(vectors[20], 10, filter_keys=np.array([], dtype=np.uint64)) == []


def test_equal_scores_are_ordered_by_key(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    index = VectorIndex.open(tmp_path / "tie.idx")
    index.add(np.arange(100, 600), unit(rng, 500))
    twin = unit(rng, 1)
    index.add([30, 10, 20], np.repeat(twin, 3, axis=0))
    got = index.search(twin[0], 3)
    assert [key for key, _ in got] == [10, 20, 30]
    assert got[0][1] == got[1][1] == got[2][1]
    assert index.exact_search(twin[0], 3) == got


def test_an_interrupted_save_leaves_the_old_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(10)
    path = tmp_path / "atomic.idx"
    index = VectorIndex.open(path)
    index.add(np.arange(200), unit(rng, 200))
    index.save()
    q = unit(rng, 1)[0]
    before = index.search(q, 5)
    meta_before = index.meta_path.read_text()
    index.add(np.arange(200, 400), unit(rng, 200))

    def crash_midway(self: VectorIndex, f: object) -> None:
        f.write(b"half an index")  # type: ignore[attr-defined]  # what a crash leaves behind
        raise OSError("No space left on device")

    monkeypatch.setattr(VectorIndex, "_write", crash_midway)
    with pytest.raises(OSError, match="No space"):
        index.save()
    monkeypatch.undo()

    assert index.dirty
    assert sorted(p.name for p in tmp_path.iterdir()) == ["atomic.idx", "atomic.idx.meta.json"]
    assert index.meta_path.read_text() == meta_before
    old = VectorIndex.open(path)
    assert len(old) == 200
    assert old.search(q, 5) == before
    index.save()  # and the next save works
    assert len(VectorIndex.open(path)) == 400


def test_opening_an_index_built_for_other_vectors_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "dim.idx"
    index = VectorIndex.open(path, dim=384)
    index.add([1], unit(np.random.default_rng(11), 1))
    index.save()
    with pytest.raises(IndexMismatchError, match=r"384-d vectors, expected 128-d"):
        VectorIndex.open(path, dim=128)
    with pytest.raises(IndexMismatchError, match="stores f32"):
        VectorIndex.open(path, dtype="i8")

    ip_path = tmp_path / "ip.idx"  # the same vectors, but a header that says another metric
    ip_path.write_bytes(path.read_bytes().replace(b'"metric": "cos"', b'"metric": "ip" ', 1))
    with pytest.raises(IndexMismatchError, match="metric"):
        VectorIndex.open(ip_path)

    cut = tmp_path / "cut.idx"  # a file cut short (a disk that filled up before the rename)
    cut.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(VectorIndexError, match="cut.idx"):
        VectorIndex.open(cut)

    junk = tmp_path / "junk.idx"
    junk.write_bytes(b"not an index at all" * 10)
    with pytest.raises(VectorIndexError, match="junk.idx"):
        VectorIndex.open(junk)


def test_bad_input_is_refused(tmp_path: Path) -> None:
    index = VectorIndex.open(tmp_path / "bad.idx")
    good = unit(np.random.default_rng(13), 2)
    with pytest.raises(ValueError, match="shape"):
        index.add([1, 2], good[:, :100])
    with pytest.raises(ValueError, match="zero vector"):
        index.add([1], np.zeros((1, DIM), dtype=np.float32))
    with pytest.raises(ValueError, match="non-negative"):
        index.add([-1, 2], good)
    with pytest.raises(ValueError, match="query"):
        index.search(np.ones(10), 5)
    assert len(index) == 0
    assert index.search(good[0], 5) == []


def test_an_index_of_the_usearch_era_is_refused_with_the_way_out(tmp_path: Path) -> None:
    """Indexes written before the switch to faiss start with usearch's own header: open says what to do."""
    old = tmp_path / "vectors.idx"
    old.write_bytes(b"usearch" + bytes(64 * 6))
    with pytest.raises(VectorIndexError, match="older version.*rebuild"):
        VectorIndex.open(old)


def test_tombstones_are_masked_then_compacted_away(tmp_path: Path) -> None:
    """faiss HNSW cannot delete a node: removed and replaced keys must never come back from a search,
    survive a save, and the graph is rebuilt from live rows once they pile up."""
    rng = np.random.default_rng(14)
    vectors = unit(rng, 5_000)
    path = tmp_path / "tomb.idx"
    index = VectorIndex.open(path)
    index.add(np.arange(5_000), vectors)
    index.remove(np.arange(0, 600))
    index.add(np.arange(600, 700), unit(rng, 100))  # replaced: 700 tombstones in all, below the threshold
    assert len(index) == 4_400 and index._graph.ntotal == 5_100
    for q in vectors[:20]:
        assert all(key >= 600 for key, _ in index.search(q, 10))
    assert all(key >= 700 for key, _ in index.search(vectors[650], 10)[1:])  # its old vector is gone
    index.save()
    reopened = VectorIndex.open(path)
    assert len(reopened) == 4_400 and 300 not in reopened and 650 in reopened
    queries = unit(rng, 30)
    assert [reopened.search(q, 10) for q in queries] == [index.search(q, 10) for q in queries]
    assert recall_at(reopened, queries) >= 0.95
    reopened.remove(np.arange(700, 1_300))  # 1,300 tombstones of 5,100 rows (> a quarter): compacted
    assert reopened._graph.ntotal == len(reopened) == 3_800
    assert recall_at(reopened, queries) >= 0.95
    np.testing.assert_allclose(reopened.get([4_999])[0], vectors[4_999], atol=1e-6)


@pytest.mark.parametrize("order", [
    ("paperfeed.search.vectors", "onnxruntime"),
    ("onnxruntime", "paperfeed.search.vectors"),
    ("paperfeed.search.vectors", "torch", "onnxruntime"),
])
def test_the_vector_index_imports_beside_onnx_runtime_in_either_order(order: tuple[str, ...]) -> None:
    """usearch then onnxruntime killed the interpreter (SIGSEGV): each order, in a fresh interpreter,
    must import, build a small index, search it and run an ONNX Runtime session."""
    code = "\n".join(f"import {m}" for m in order) + """
import numpy as np, onnx, onnxruntime
from onnx import helper, TensorProto
from paperfeed.search.vectors import VectorIndex
import tempfile, pathlib
ix = VectorIndex.open(pathlib.Path(tempfile.mkdtemp()) / "v.idx", dim=4)
ix.add([1, 2], np.eye(4, dtype=np.float32)[:2])
assert ix.search(np.array([1, 0, 0, 0.1], dtype=np.float32), 1)[0][0] == 1
g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
s = onnxruntime.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
assert s.run(None, {"x": np.array([-1, 2], dtype=np.float32)})[0].tolist() == [0, 2]
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert done.stdout.strip() == "ok"
