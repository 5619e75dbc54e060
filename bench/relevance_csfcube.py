"""Relevance on CSFCube: NDCG@20 of keyword, semantic and hybrid "similar papers".

    .venv/bin/python bench/relevance_csfcube.py

CSFCube (CC BY-NC 4.0) has 50 query papers, each with ~125 judged candidates graded 0-3 for
one facet (background / method / result).  For every query we rank its judged candidates
by similarity to the whole query paper (title + abstract) using paperfeed's own
`SearchEngine.similar(..., within=candidates, mode=...)`, and score NDCG@20 with linear gains
(rel / log2(rank + 1)) against the graded judgements.  The store and indexes are built from
`derived/corpus.jsonl` in a temporary folder with the real model.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, SHARED, Timer, machine  # noqa: E402

CSF = SHARED / "csfcube" / "derived"


def ndcg_at(ranked: list[str], rel: dict[str, int], k: int = 20) -> float:
    dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(rel.values(), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def load() -> tuple[list[dict], dict[tuple[str, str], dict[str, int]]]:
    corpus = [json.loads(line) for line in (CSF / "corpus.jsonl").open()]
    qrels: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for i, line in enumerate((CSF / "qrels.tsv").open()):
        if i == 0:
            continue
        q, facet, d, r = line.rstrip("\n").split("\t")
        qrels[(q, facet)][d] = int(r)
    return corpus, qrels


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    from paperfeed.core import Paperfeed
    from paperfeed.ingestion.pipeline import ingest_records
    from paperfeed.models import new_paper

    corpus, qrels = load()
    with tempfile.TemporaryDirectory(prefix="pf-csfcube-") as tmp:
        pf = Paperfeed(Path(tmp) / "csf.db")
        # CSFCube ids are S2 corpus ids: keep them as the paper id so qrels match (doi-style id is our fallback)
        papers = [new_paper(title=r["title"] or "(untitled)", abstract=r.get("abstract") or "", source="csv",
                            doi=f"10.0000/csfcube.{r['paper_id']}") for r in corpus]
        ingest_records(pf.store, papers, "csfcube")
        with Timer() as t_embed:
            pf.refresh_keyword_index()
            pf.embed()
            pf.refresh_vector_index()
        scores: dict[str, list[float]] = {m: [] for m in ("keyword", "semantic", "hybrid")}
        per_facet: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for (q, facet), rel in sorted(qrels.items()):
            qid = f"doi:10.0000/csfcube.{q}"
            cands = [f"doi:10.0000/csfcube.{d}" for d in rel if d != q]
            rel_ids = {f"doi:10.0000/csfcube.{d}": r for d, r in rel.items() if d != q}
            for mode in scores:
                ranked = [r.paper.id for r in pf.engine.similar(qid, limit=len(cands), within=cands, mode=mode)]
                s = ndcg_at(ranked, rel_ids)
                scores[mode].append(s)
                per_facet[facet][mode].append(s)
        pf.close()
    res = {"machine": machine(), "queries": len(qrels), "index_build_s": round(t_embed.seconds, 1),
           "ndcg@20": {m: round(sum(v) / len(v), 4) for m, v in scores.items()},
           "by_facet": {f: {m: round(sum(v) / len(v), 4) for m, v in d.items()} for f, d in per_facet.items()}}
    print(f"CSFCube NDCG@20 over {res['queries']} queries ({machine()})")
    print(f"{'':10} {'all':>7} " + " ".join(f"{f:>11}" for f in sorted(res["by_facet"])))
    for m in scores:
        print(f"{m:10} {res['ndcg@20'][m]:7.4f} " + " ".join(f"{res['by_facet'][f][m]:11.4f}"
                                                         for f in sorted(res["by_facet"])))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "relevance_csfcube.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
