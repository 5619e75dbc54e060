"""The author-continuation benchmark's data: corpus, vectors, cached tf-idf, and the simulated readers.

Protocol (issue 11): for a cut date C, a simulated reader is an author with >= 4 papers listed before C
and >= 2 listed in [C, C + 7 days).  Their likes are their papers before C; the candidates are every
paper listed in the 7 days; the relevant items are their own papers among the candidates.  Author names
are never features: the ranker sees titles, abstracts, categories and embeddings only.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from bench._common import SHARED

CORPUS = SHARED / "arxiv-cs-2025-2026.jsonl.gz"
VECTORS = SHARED / "arxiv-cs-2025-2026.minilm.npz"
OUT = Path(__file__).resolve().parent / "out"
LAST_DAY = date(2026, 3, 31)  # later months are kept for a separate check: nothing after this is read


@dataclass
class Corpus:
    ids: list[str]
    dates: np.ndarray  # datetime64[D]
    titles: list[str]
    texts: list[str]  # title + abstract, what tf-idf and the embeddings see
    authors: list[list[str]]  # normalised names; used only to define readers, never as features
    categories: list[list[str]]
    vectors: np.ndarray  # float32, L2-normalised, row i = ids[i]
    tfidf: sp.csr_matrix  # arxiv-sanity-lite's vectoriser on title + abstract (authors left out): baselines
    tfidf_ranker: sp.csr_matrix  # paperfeed's vectoriser (paperfeed.recommend.text.RANKER_TFIDF)


def normalise_name(name: str) -> str:
    t = unicodedata.normalize("NFKD", name)
    t = "".join(c for c in t if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", t).split())


def load_corpus(last_day: date = LAST_DAY) -> Corpus:
    rows = []
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            if d["date"] <= last_day.isoformat():
                rows.append(d)
    rows.sort(key=lambda d: (d["date"], d["id"]))
    z = np.load(VECTORS)
    pos = {i: k for k, i in enumerate(z["ids"].tolist())}
    keep = [d for d in rows if d["id"] in pos]
    vec = z["vectors"][[pos[d["id"]] for d in keep]].astype(np.float32)
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    texts = [f"{d['title']}. {d['abstract'] or ''}" for d in keep]
    return Corpus(
        ids=[d["id"] for d in keep],
        dates=np.array([d["date"] for d in keep], dtype="datetime64[D]"),
        titles=[d["title"] for d in keep],
        texts=texts,
        authors=[sorted({normalise_name(a) for a in d["authors"] if a.strip()}) for d in keep],
        categories=[list(d["categories"]) for d in keep],
        vectors=vec,
        tfidf=cached_tfidf([d["id"] for d in keep], texts, "arxiv-sanity"),
        tfidf_ranker=cached_tfidf([d["id"] for d in keep], texts, "ranker"),
    )


def cached_tfidf(ids: list[str], texts: list[str], which: str) -> sp.csr_matrix:
    """Fit once, keep in bench/out/ (40-90 s of CPU); the cache key is the ids and the settings.

    Fitted on every paper up to LAST_DAY (no labels involved, as arxiv-sanity-lite fits on its whole
    database), so candidates and likes share one vocabulary."""
    from paperfeed.recommend.text import ARXIV_SANITY_TFIDF, RANKER_TFIDF, fit_tfidf

    settings = {"arxiv-sanity": ARXIV_SANITY_TFIDF, "ranker": RANKER_TFIDF}[which]
    key = hashlib.sha256(("\n".join(ids) + repr(sorted(settings.items()))).encode()).hexdigest()[:16]
    path = OUT / f"recommend_tfidf_{which}_{key}.npz"
    if path.exists():
        return sp.load_npz(path).tocsr()
    OUT.mkdir(parents=True, exist_ok=True)
    _, x = fit_tfidf(texts, settings)
    sp.save_npz(path, x)
    return x


@dataclass
class Reader:
    name: str  # for the report only; never a feature
    liked: np.ndarray  # row indexes of their papers before the cut, oldest first
    relevant: np.ndarray  # row indexes of their papers among the candidates


@dataclass
class Window:
    cut: date
    candidates: np.ndarray  # row indexes of the papers listed in [cut, cut + 7 days)
    background: np.ndarray  # row indexes of every paper listed before the cut
    readers: list[Reader]


def make_window(c: Corpus, cut: date, days: int = 7, min_before: int = 4, min_after: int = 2) -> Window:
    end = cut + timedelta(days=days)
    if end - timedelta(days=1) > LAST_DAY:
        raise ValueError(f"window {cut}..{end} reaches past {LAST_DAY}")
    cut64, end64 = np.datetime64(cut), np.datetime64(end)
    before = np.flatnonzero(c.dates < cut64)
    cand = np.flatnonzero((c.dates >= cut64) & (c.dates < end64))
    by_before: dict[str, list[int]] = defaultdict(list)
    by_after: dict[str, list[int]] = defaultdict(list)
    for i in before:
        for a in c.authors[i]:
            by_before[a].append(int(i))
    for i in cand:
        for a in c.authors[i]:
            by_after[a].append(int(i))
    readers = [Reader(a, np.array(by_before[a]), np.array(rel))
               for a, rel in sorted(by_after.items())
               if len(rel) >= min_after and len(by_before.get(a, ())) >= min_before]
    return Window(cut, cand, before, readers)


# Tuning windows pick the fused ranker's weights; report windows are only ever scored.  Mondays, weekly
# windows, none overlapping, all ending by 2026-03-31.
TUNE_CUTS = [date(2025, 10, 6), date(2025, 11, 3), date(2025, 12, 1), date(2026, 1, 5)]
REPORT_CUTS = [date(2026, 2, 2), date(2026, 2, 16), date(2026, 3, 2), date(2026, 3, 16), date(2026, 3, 23)]
