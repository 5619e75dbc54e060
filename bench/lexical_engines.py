"""Keyword search engines compared: SQLite FTS5 against tantivy, on paperfeed's own keyword search.

    .venv/bin/python bench/lexical_engines.py [--n 74728,1000000] [--queries 200] [--out bench/results]

For each corpus size N it builds, from the same documents:

* FTS5: a contentless table `fts(title, abstract, authors)`, tokenize='porter unicode61 remove_diacritics 2',
  bulk-loaded in one transaction then `optimize`d to a single segment (FTS5's best case for queries);
  ranked with bm25(fts, 3.0, 1.0, 2.0), the same field weights as paperfeed's FIELD_BOOSTS.
* tantivy: paperfeed's own index (`paperfeed.search.lexical`: schema, "en"/"names" analyzers, the documents
  `LexicalIndex._document` makes), written the way `LexicalIndex.sync` writes it (256 MB heap, 2 threads).

and reports build time (wall, including reading the documents from disk, whose cost is given apart as
"feed"), on-disk size, and per-query latency of top-10 BM25 in two modes: AND (every word: the literal
block) and OR (any word: the "related" block of hybrid search).  Each query is timed from the user's text to
the ten ids: FTS5 = parse_query + translation to a MATCH string + `ORDER BY bm25(...) LIMIT 10`; tantivy =
parse_query + `LexicalIndex.build(..., mode)` + `LexicalIndex.search(..., 10)`.  A warm-up pass over all
queries precedes the timed pass.  Agreement between engines: overlap@10 of their top tens, and how many
AND queries match the same number of papers (the stemmers differ slightly, Porter in FTS5 against Snowball
English in tantivy).  The two BM25s are different formulas (see `formula_check`), so on the real papers each
engine's top ten is also compared with its own formula written out in numpy: if each engine matches its
formula and the formulas disagree as much as the engines do, the disagreement is the scoring, not a bug.

Scale: the corpus has 74,728 real papers.  Beyond that, document pk > 74,728 is a perturbed copy of real
paper (pk - 1) % 74,728: in title and abstract 10-30% of the words are replaced by words drawn from the
corpus (frequency-weighted, so common words stay common), a further few percent are deleted or inserted
(so lengths, and with them BM25 scores, differ from the original's), authors come from another real paper,
categories and date are kept.  The copies are written once, streamed, to a JSONL file under the work
directory; every size reads a prefix of it, so each engine indexes the very same documents.

Queries (fixed seed): 2-4 consecutive words of random real titles, ~60% as plain words, ~20% quoted as a
phrase, ~20% with the last word cut to a prefix `word*`.  Title words include "of", "for", "the"... so
common and rare words mix as they do in real queries.

Writes DIR/lexical_engines.json and DIR/lexical_engines.png (p50 and p99 per engine and size); deletes
the work directory (default /tmp/lexbench) at the end.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import shutil
import sqlite3
import statistics
import string
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CORPUS, RESULTS, Timer, corpus, dir_size_mb, machine, peak_rss_mb, percentiles  # noqa: E402

from paperfeed.search.lexical import FIELD_BOOSTS, LexicalIndex  # noqa: E402
from paperfeed.search.query import Query, parse_query  # noqa: E402

SEED = 20250318
MODES = ("and", "or")
ENGINES = ("fts5", "tantivy")
FTS_TOKENIZE = "porter unicode61 remove_diacritics 2"
FTS_WEIGHTS = ", ".join(str(FIELD_BOOSTS[f]) for f in ("title", "abstract", "authors"))  # "3.0, 1.0, 2.0"
FTS_RANK = f"bm25(fts, {FTS_WEIGHTS})"


# -- documents ------------------------------------------------------------------------------------------


class PaperLike(NamedTuple):
    """The attributes `LexicalIndex._document` reads from a `Paper`."""

    title: str
    abstract: str
    authors: list[str]
    categories: list[str]
    listed: date | None
    published: date | None = None


def load_real() -> list[dict]:
    return [{k: p.get(k) or ([] if k in ("authors", "categories") else "")
             for k in ("title", "abstract", "authors", "categories", "date")} for p in corpus()]


def _perturb(text: str, rng: random.Random, vocab: list[str], rate: float) -> str:
    """Replace `rate` of the words by corpus words; delete and insert a quarter as many again."""
    out = []
    delete, insert = rate * 1.25, rate * 1.5
    for w in text.split():
        r = rng.random()
        if r < rate:
            out.append(rng.choice(vocab))
        elif r < delete:
            continue
        else:
            out.append(w)
            if r < insert:
                out.append(rng.choice(vocab))
    return " ".join(out)


def write_corpus(real: list[dict], n: int, path: Path) -> float:
    """Write `n` documents (the real papers, then perturbed copies) as JSON lines; returns seconds taken."""
    t0 = time.perf_counter()
    rng = random.Random(SEED)
    vocab = [w for p in rng.sample(real, min(len(real), 10_000)) for w in (p["title"] + " " + p["abstract"]).split()]
    with path.open("w", encoding="utf-8") as fh:
        for pk in range(1, n + 1):
            src = real[(pk - 1) % len(real)]
            if pk <= len(real):
                doc = src
            else:
                rng.seed(pk)  # each copy is reproducible on its own
                rate = rng.uniform(0.10, 0.30)
                doc = {"title": _perturb(src["title"], rng, vocab, rate),
                       "abstract": _perturb(src["abstract"], rng, vocab, rate),
                       "authors": real[rng.randrange(len(real))]["authors"],
                       "categories": src["categories"], "date": src["date"]}
            fh.write(json.dumps([pk, doc["title"], doc["abstract"], doc["authors"], doc["categories"], doc["date"]]))
            fh.write("\n")
            if pk % 100_000 == 0:
                print(f"  corpus: {pk:,}/{n:,} documents written", flush=True)
    return time.perf_counter() - t0


def read_docs(path: Path, n: int) -> Iterator[list]:
    """[pk, title, abstract, authors, categories, date] for the first `n` documents of the corpus file."""
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i >= n:
                return
            yield json.loads(line)


# -- building -------------------------------------------------------------------------------------------


def build_fts5(db: Path, docs: Iterator[list]) -> dict:
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    with Timer() as t_load:
        con.execute(f"CREATE VIRTUAL TABLE fts USING fts5(title, abstract, authors, content='', "
                    f"tokenize='{FTS_TOKENIZE}')")
        con.executemany("INSERT INTO fts(rowid, title, abstract, authors) VALUES (?, ?, ?, ?)",
                        ((d[0], d[1], d[2], " ; ".join(d[3])) for d in docs))
        con.commit()
    with Timer() as t_opt:
        con.execute("INSERT INTO fts(fts) VALUES ('optimize')")
        con.commit()
    page, pages, free = (con.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_size", "page_count",
                                                                              "freelist_count"))
    con.close()
    return {"build_s": t_load.seconds + t_opt.seconds, "optimize_s": t_opt.seconds,
            "size_mb": (pages - free) * page / 1e6, "file_mb": dir_size_mb(db)}


def build_tantivy(path: Path, docs: Iterator[list]) -> dict:
    lex = LexicalIndex(path)
    with Timer() as t:
        writer = lex.index.writer(heap_size=256_000_000, num_threads=2)  # as LexicalIndex.sync
        for pk, title, abstract, authors, cats, day in docs:
            paper = PaperLike(title, abstract, authors, cats, date.fromisoformat(day) if day else None)
            writer.add_document(LexicalIndex._document(pk, paper))
        writer.commit()
        writer.wait_merging_threads()
        lex.index.reload()
    return {"build_s": t.seconds, "size_mb": dir_size_mb(path), "segments": lex.index.searcher().num_segments}


# -- queries --------------------------------------------------------------------------------------------


def make_queries(real: list[dict], k: int, seed: int = SEED) -> list[tuple[str, str]]:
    """(kind, text) pairs: 2-4 word spans of random real titles, as words, a phrase, or ending in a prefix."""
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    while len(out) < k:
        words = [w.strip(string.punctuation) for w in rng.choice(real)["title"].split()]
        words = [w for w in words if any(c.isalnum() for c in w) and not set(w) & set(':"*')]
        if len(words) < 2:
            continue
        size = rng.randint(2, min(4, len(words)))
        start = rng.randrange(len(words) - size + 1)
        span = words[start:start + size]
        roll = rng.random()
        if roll < 0.2:
            kind, text = "phrase", '"' + " ".join(span) + '"'
        elif roll < 0.4 and span[-1].isalpha() and len(span[-1]) >= 5:
            kind, text = "prefix", " ".join(span[:-1] + [span[-1][:max(4, len(span[-1]) * 2 // 3)] + "*"])
        else:
            kind, text = "words", " ".join(span)
        parse_query(text)  # raises if the generator ever produced something the service would refuse
        out.append((kind, text))
    return out


def fts5_match(uq: Query, mode: str) -> str:
    """paperfeed's query language (free-text clauses) as an FTS5 MATCH expression."""
    parts = []
    for c in uq.positive:
        quoted = '"' + c.text.replace('"', '""') + '"'
        parts.append(quoted + "*" if c.kind == "prefix" else quoted)
    return (" OR " if mode == "or" else " ").join(parts)


class Fts5:
    def __init__(self, db: Path):
        self.con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
        self.con.execute("PRAGMA mmap_size=8000000000")  # read through the page cache as tantivy does (mmap)
        self.sql = f"SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY {FTS_RANK} LIMIT ?"

    def top(self, text: str, mode: str, k: int = 10) -> list[int]:
        return [r[0] for r in self.con.execute(self.sql, (fts5_match(parse_query(text), mode), k))]

    def count(self, text: str, mode: str) -> int:
        return self.con.execute("SELECT count(*) FROM fts WHERE fts MATCH ?",
                                (fts5_match(parse_query(text), mode),)).fetchone()[0]

    def close(self) -> None:
        self.con.close()


class Tantivy:
    def __init__(self, path: Path):
        self.lex = LexicalIndex(path)

    def top(self, text: str, mode: str, k: int = 10) -> list[int]:
        return [h.pk for h in self.lex.search(self.lex.build(parse_query(text), mode), k)]

    def count(self, text: str, mode: str) -> int:
        q = self.lex.build(parse_query(text), mode)
        return self.lex.index.searcher().search(q, 1, count=True).count if q is not None else 0

    def close(self) -> None:
        self.lex._index = None


def run_queries(engine: Fts5 | Tantivy, queries: list[tuple[str, str]], mode: str) -> tuple[list[float], list]:
    """Warm-up pass, then a timed pass: per-query milliseconds and the top-10 ids."""
    for _kind, text in queries:
        engine.top(text, mode)
    gc.collect()
    ms, tops = [], []
    for _kind, text in queries:
        t0 = time.perf_counter()
        ids = engine.top(text, mode)
        ms.append((time.perf_counter() - t0) * 1000)
        tops.append(ids)
    return ms, tops


def overlap_at_10(a: list[list[int]], b: list[list[int]]) -> dict:
    """|A ∩ B| / max(|A|, |B|) per query, over queries where at least one engine found something."""
    vals = [len(set(x) & set(y)) / max(len(x), len(y)) for x, y in zip(a, b, strict=True) if x or y]
    return {"mean": statistics.fmean(vals) if vals else 1.0,
            "share_ge_0.8": sum(v >= 0.8 for v in vals) / len(vals) if vals else 1.0,
            "top1_same": sum(bool(x and y and x[0] == y[0]) for x, y in zip(a, b, strict=True) if x or y)
            / max(len(vals), 1),
            "queries": len(vals), "both_empty": len(a) - len(vals)}


# -- agreement: are the engines' differences their scoring formulas? ------------------------------------

K1, B = 1.2, 0.75  # both engines' BM25 constants


def formula_check(docs: list[dict], queries: list[tuple[str, str]], tops: dict) -> dict:
    """Rank the plain-word queries with each engine's BM25 formula written out in numpy, on the real papers.

    FTS5's bm25() scores a row as one document: the column-weighted term count against the row's total
    length, times a row-level IDF log((N-n+0.5)/(n+0.5)) floored at 1e-6 (a word in over half the papers
    weighs nothing).  tantivy sums a BM25 per field, times the field boost, with a per-field IDF
    ln(1+(N-n+0.5)/(n+0.5)).  If each engine agrees with its own formula while the two formulas disagree
    with each other as much as the engines do, the engines' disagreement is the formulas', not a bug.
    Approximations: tokens come from paperfeed's analyzers for both (FTS5 stems with Porter, not Snowball),
    and tantivy's length normalisation is not quantised to a byte here.
    """
    import numpy as np

    from paperfeed.search.lexical import ANALYZERS, FIELD_ANALYZER

    fields = ("title", "abstract", "authors")
    weights = np.array([FIELD_BOOSTS[f] for f in fields])[:, None]
    cases = []  # (query number, words) for queries of single-token words, each word analysed per field
    for i, (kind, text) in enumerate(queries):
        words = [w.lower() for w in text.split()]
        if kind == "words" and all(len(ANALYZERS[FIELD_ANALYZER[f]].analyze(w)) == 1 for w in words for f in fields):
            cases.append((i, words))
    vocab = sorted({w for _i, words in cases for w in words})
    slot = [{ANALYZERS[FIELD_ANALYZER[f]].analyze(w)[0]: k for k, w in enumerate(vocab)} for f in fields]
    n = len(docs)
    tf = np.zeros((len(vocab), len(fields), n), np.float32)
    length = np.zeros((len(fields), n), np.float32)
    for j, d in enumerate(docs):
        for f, fld in enumerate(fields):
            text = " ; ".join(d["authors"]) if fld == "authors" else d[fld]
            toks = ANALYZERS[FIELD_ANALYZER[fld]].analyze(text)
            length[f, j] = len(toks)
            for t in toks:
                if t in slot[f]:
                    tf[slot[f][t], f, j] += 1
    row_len = length.sum(0)

    def fts5_scores(k: int) -> np.ndarray:
        df = np.count_nonzero(tf[k].sum(0))
        idf = max(np.log((n - df + 0.5) / (df + 0.5)), 1e-6)
        wtf = (weights * tf[k]).sum(0)
        return idf * wtf * (K1 + 1) / (wtf + K1 * (1 - B + B * row_len / row_len.mean()))

    def tantivy_scores(k: int) -> np.ndarray:
        df = np.count_nonzero(tf[k], axis=1)[:, None]
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
        norm = K1 * (1 - B + B * length / length.mean(1, keepdims=True))
        return (weights * idf * tf[k] * (K1 + 1) / (tf[k] + norm)).sum(0)

    out = {}
    for mode in MODES:
        agree: dict[str, list[float]] = {"fts5_vs_its_formula": [], "tantivy_vs_its_formula": [],
                                         "formula_vs_formula": [], "fts5_vs_tantivy": []}
        for i, words in cases:
            ks = [vocab.index(w) for w in words]
            present = np.stack([tf[k].sum(0) > 0 for k in ks])
            match = np.flatnonzero(present.all(0) if mode == "and" else present.any(0))
            if match.size == 0:
                continue
            ref = {}
            for name, scores in (("fts5", fts5_scores), ("tantivy", tantivy_scores)):
                s = sum(scores(k) for k in ks)[match]
                ref[name] = list(match[np.lexsort((match, -s))][:10] + 1)  # pk = position + 1
            eng = {name: tops[name, mode][i] for name in ENGINES}

            def ov(a: list, b: list) -> float:
                return len(set(a) & set(b)) / max(len(a), len(b), 1)

            agree["fts5_vs_its_formula"].append(ov(eng["fts5"], ref["fts5"]))
            agree["tantivy_vs_its_formula"].append(ov(eng["tantivy"], ref["tantivy"]))
            agree["formula_vs_formula"].append(ov(ref["fts5"], ref["tantivy"]))
            agree["fts5_vs_tantivy"].append(ov(eng["fts5"], eng["tantivy"]))
        out[mode] = {k: statistics.fmean(v) for k, v in agree.items()} | {"queries": len(agree["fts5_vs_tantivy"])}
    return out


# -- one size -------------------------------------------------------------------------------------------


def bench_size(n: int, real: list[dict], corpus_file: Path, work: Path, queries: list[tuple[str, str]]) -> dict:
    res: dict = {"n": n, "engines": {}}
    with Timer() as t_feed:
        for _ in read_docs(corpus_file, n):
            pass
    res["feed_s"] = t_feed.seconds
    paths = {"fts5": work / f"fts5-{n}.db", "tantivy": work / f"tantivy-{n}"}
    engines: dict[str, Fts5 | Tantivy] = {}
    for name in ENGINES:
        print(f"  [{n:,}] building {name} ...", flush=True)
        build = build_fts5 if name == "fts5" else build_tantivy
        res["engines"][name] = build(paths[name], read_docs(corpus_file, n))
        print(f"  [{n:,}] {name}: built in {res['engines'][name]['build_s']:.1f} s, "
              f"{res['engines'][name]['size_mb']:.0f} MB", flush=True)
        engines[name] = Fts5(paths[name]) if name == "fts5" else Tantivy(paths[name])

    tops: dict[tuple[str, str], list] = {}
    for mode in MODES:
        for name, eng in engines.items():
            ms, tops[name, mode] = run_queries(eng, queries, mode)
            r = res["engines"][name][mode] = percentiles(ms)
            r["max"] = max(ms)
            r["by_kind"] = {kind: percentiles([m for m, (k, _t) in zip(ms, queries, strict=True) if k == kind])
                            for kind in sorted({k for k, _t in queries})}
            r["ms"] = [round(m, 3) for m in ms]
            print(f"  [{n:,}] {name} {mode.upper():3}: p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms", flush=True)
        res.setdefault("overlap@10", {})[mode] = overlap_at_10(tops["fts5", mode], tops["tantivy", mode])

    # Agreement on what matches at all (untimed): the AND result-set sizes.
    counts = {name: [eng.count(t, "and") for _k, t in queries] for name, eng in engines.items()}
    same = sum(a == b for a, b in zip(counts["fts5"], counts["tantivy"], strict=True))
    close = sum(abs(a - b) <= 0.05 * max(a, b) for a, b in zip(counts["fts5"], counts["tantivy"], strict=True))
    res["and_matches"] = {"same_count": same, "within_5pct": close, "queries": len(queries),
                          "median_fts5": statistics.median(counts["fts5"]),
                          "median_tantivy": statistics.median(counts["tantivy"]),
                          "fts5": counts["fts5"], "tantivy": counts["tantivy"]}
    if n <= len(real):  # the real papers, unperturbed: check that the differences are the scoring formulas'
        res["formula_check"] = formula_check(real[:n], queries, tops)
    for eng in engines.values():
        eng.close()
    shutil.rmtree(paths["tantivy"], ignore_errors=True)
    paths["fts5"].unlink(missing_ok=True)
    return res


# -- reporting ------------------------------------------------------------------------------------------


def print_table(results: list[dict]) -> None:
    head = (f"{'papers':>9} {'engine':8} {'build s':>8} {'MB':>7} | {'AND p50':>8} {'p95':>7} {'p99':>8} "
            f"{'mean':>7} | {'OR p50':>8} {'p95':>7} {'p99':>8} {'mean':>7}")
    print("\n" + head + "\n" + "-" * len(head))
    for r in results:
        for name in ENGINES:
            e = r["engines"][name]
            a, o = e["and"], e["or"]
            print(f"{r['n']:>9,} {name:8} {e['build_s']:>8.1f} {e['size_mb']:>7.0f} | {a['p50']:>8.2f} "
                  f"{a['p95']:>7.2f} {a['p99']:>8.2f} {a['mean']:>7.2f} | {o['p50']:>8.2f} {o['p95']:>7.2f} "
                  f"{o['p99']:>8.2f} {o['mean']:>7.2f}")
        ov, m = r["overlap@10"], r["and_matches"]
        print(f"{'':9} overlap@10 FTS5 vs tantivy: AND mean {ov['and']['mean']:.2f} "
              f"(>=8/10 for {ov['and']['share_ge_0.8']:.0%}, same #1 {ov['and']['top1_same']:.0%}), "
              f"OR mean {ov['or']['mean']:.2f} (>=8/10 for {ov['or']['share_ge_0.8']:.0%}, "
              f"same #1 {ov['or']['top1_same']:.0%}); AND match counts equal for {m['same_count']}/{m['queries']}, "
              f"within 5% for {m['within_5pct']}; feed {r['feed_s']:.1f} s")
        for mode, fc in r.get("formula_check", {}).items():
            print(f"{'':9} {mode.upper()} formula check ({fc['queries']} plain-word queries): FTS5 vs its bm25() "
                  f"formula {fc['fts5_vs_its_formula']:.2f}, tantivy vs its formula {fc['tantivy_vs_its_formula']:.2f},"
                  f" formula vs formula {fc['formula_vs_formula']:.2f} (engines {fc['fts5_vs_tantivy']:.2f})")
    print("\nlatency in ms per query (top 10, one thread, warm); build s = wall time incl. reading the documents "
          "(\"feed\"); FTS5 MB = pages in use after optimize")
    print("p50 / p99 by query kind (AND):")
    for r in results:
        for name in ENGINES:
            kinds = r["engines"][name]["and"]["by_kind"]
            print(f"  {r['n']:>9,} {name:8} " + "  ".join(f"{k} {v['p50']:.2f}/{v['p99']:.2f}"
                                                      for k, v in kinds.items()))


def plot(results: list[dict], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return False
    sizes = [r["n"] for r in results]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for ax, mode in zip(axes, MODES, strict=True):
        for name, color in zip(ENGINES, ("tab:blue", "tab:orange"), strict=True):
            for stat, style in (("p50", "-o"), ("p99", "--s")):
                ax.plot(sizes, [r["engines"][name][mode][stat] for r in results], style, color=color,
                        label=f"{name} {stat}")
        ax.set(xscale="log", yscale="log", xlabel="papers", title=f"{mode.upper()} queries, top 10 BM25")
        ax.set_xticks(sizes, [f"{s:,}" for s in sizes])
        ax.set_xticks([], minor=True)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("latency per query (ms)")
    axes[0].legend()
    fig.suptitle("SQLite FTS5 vs tantivy (paperfeed keyword search)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", default="74728,1000000", help="comma-separated corpus sizes (default: %(default)s)")
    ap.add_argument("--queries", type=int, default=200, help="number of queries (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory for the JSON and PNG (default: bench/results)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/lexbench"), help="indexes go here; deleted at the end")
    args = ap.parse_args()
    sizes = sorted(int(s.replace("_", "")) for s in args.n.split(","))

    t_start = time.perf_counter()
    print(f"loading {CORPUS} ...", flush=True)
    real = load_real()
    queries = make_queries(real, args.queries)
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    corpus_file = args.workdir / "corpus.jsonl"
    try:
        gen_s = write_corpus(real, max(sizes), corpus_file)
        print(f"corpus of {max(sizes):,} documents ({len(real):,} real) written in {gen_s:.0f} s", flush=True)
        results = [bench_size(n, real, corpus_file, args.workdir, queries) for n in sizes]
    finally:
        shutil.rmtree(args.workdir, ignore_errors=True)

    print_table(results)
    report = {
        "machine": machine(),
        "sqlite": sqlite3.sqlite_version,
        "tantivy": _version("tantivy"),
        "real_papers": len(real),
        "scale": "sizes above the real corpus are reached with perturbed copies of real papers: 10-30% of "
                 "title/abstract words replaced by frequency-weighted corpus words, a few % deleted/inserted, "
                 "authors of another paper; see the module docstring",
        "fts5": {"tokenize": FTS_TOKENIZE, "rank": FTS_RANK, "table": "contentless, optimized, mmap reads"},
        "tantivy_setup": "paperfeed.search.lexical schema/analyzers/documents; writer 256 MB, 2 threads",
        "queries": [{"kind": k, "text": t} for k, t in queries],
        "corpus_generation_s": gen_s,
        "total_s": time.perf_counter() - t_start,
        "peak_rss_mb": peak_rss_mb(),
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lexical_engines.json").write_text(json.dumps(report, indent=1))
    if plot(results, args.out / "lexical_engines.png"):
        print(f"plot: {args.out / 'lexical_engines.png'}")
    print(f"results: {args.out / 'lexical_engines.json'}; total {report['total_s'] / 60:.1f} min, "
          f"peak RSS {report['peak_rss_mb']:.0f} MB")


def _version(pkg: str) -> str:
    from importlib.metadata import version

    return version(pkg)


if __name__ == "__main__":
    main()
