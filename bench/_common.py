"""Shared bits of the benchmarks: where the shared data is, timing and memory helpers."""

from __future__ import annotations

import gzip
import itertools
import json
import platform
import resource
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CORPUS = SHARED / "arxiv-cs-2025-2026.jsonl.gz"
RESULTS = ROOT / "bench" / "results"


def machine() -> str:
    import os

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dir_size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def corpus(n: int | None = None, skip: int = 0) -> Iterator[dict]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        yield from (json.loads(line) for line in itertools.islice(fh, skip, None if n is None else skip + n))


def percentiles(ms: list[float]) -> dict[str, float]:
    import numpy as np

    a = np.asarray(ms)
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99)), "mean": float(a.mean())}


class Timer:
    def __enter__(self) -> Timer:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0
