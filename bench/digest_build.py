"""Digest build for 100,000 subscribers over one day of new papers: time to compute all digests, peak memory.

    .venv/bin/python bench/digest_build.py [--subscribers 100000] [--db /tmp/paperfeed-digest-bench/papers.db]
                                           [--profile]

Set-up (kept in --db and reused by the next run; delete the folder to start again):
- the last 30 days of the shared corpus (2026-06-01 ... 2026-07-01) ingested into a fresh store;
- embeddings for what the similar section needs only: the day's new papers (listed 2026-06-30, the window of
  Wednesday 2026-07-01's daily digest) and a pool of 300 earlier papers that subscribers liked;
- N accounts, each linked to one subscriber, each with 2-5 upvotes drawn from the liked pool (cast before the
  window), plus 2,000 upvotes on the day's papers during the window (so there is something trending);
- N active subscribers, daily at 07:00 in one of UTC, Europe/Berlin, America/New_York or America/Los_Angeles,
  each with 2-4 saved searches drawn (Zipf-like: popular ones often) from a pool of title key phrases,
  `cat:` filters and `author:"..."` queries taken from the corpus, and sometimes a followed author/category.

Measured: schedule (due_period for every subscriber) and DigestBuilder.build_many over all of them (the personal
section from the recommender, FeedService.for_members -> recommend_many, its corpus build included), consumed
one by one as the runner does; peak RSS of the process.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import re
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import corpus, machine, peak_rss_mb  # noqa: E402

FIRST_DAY = "2026-06-01"
WINDOW_DAY = date(2026, 6, 30)  # listed that day: the window of Wednesday 2026-07-01's daily digest
NOW = datetime(2026, 7, 1, 20, 0)  # 07:00 has passed everywhere below, and it is still 1 July there
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "America/Los_Angeles"]
LIKED_POOL = 300
STOP = {"a", "an", "and", "the", "of", "for", "in", "on", "to", "with", "via", "from", "by", "is", "are", "at", "as",
        "its", "into", "over", "under", "towards", "toward", "using", "based", "we", "our", "this", "that", "be", "or",
        "not"}


def setup(db: Path, n: int, rng: random.Random, embeddings_from: Path | None, npz: Path | None = None) -> None:
    """Build the bench store.  `npz` (the shared `*.minilm.npz`, same model and text): store the vectors of
    every ingested paper found in it first, so nothing is embedded unless it is missing there (bench/
    foryou_latency.py ranks a whole week of candidates and needs all of them)."""
    from sqlalchemy import insert

    from paperfeed.config import MODEL_NAME
    from paperfeed.core import Paperfeed
    from paperfeed.ingestion.pipeline import ingest_paths
    from paperfeed.mail.digest import load_window, stored_vectors
    from paperfeed.models import embedding_text
    from paperfeed.search.embedder import get_embedder
    from paperfeed.store.schema import follows, subscribers, users, votes

    db.parent.mkdir(parents=True, exist_ok=True)
    recs = [r for r in corpus() if r["date"] >= FIRST_DAY]
    src = db.parent / "last30.jsonl"
    src.write_text("".join(__import__("json").dumps(r, ensure_ascii=False) + "\n" for r in recs))
    pf = Paperfeed(db)
    t = time.perf_counter()
    ingest_paths(pf.store, [str(src)])
    print(f"setup: ingested {len(recs):,} papers in {time.perf_counter() - t:.1f} s")

    window = load_window(pf.store, WINDOW_DAY, WINDOW_DAY + timedelta(days=1))
    earlier = load_window(pf.store, date(2026, 6, 1), WINDOW_DAY)
    liked_pool = rng.sample(earlier.new_pks, LIKED_POOL)
    if embeddings_from is not None and embeddings_from.exists():  # vectors by content hash: reuse, never recompute
        import sqlite3

        import numpy as np

        other = sqlite3.connect(embeddings_from)
        rows = other.execute("SELECT content_hash, vector FROM embeddings WHERE model = ?", (MODEL_NAME,)).fetchall()
        other.close()
        pf.store.put_embeddings(MODEL_NAME, ((h, np.frombuffer(v, dtype=np.float32)) for h, v in rows))
    if npz is not None:
        import numpy as np

        z = np.load(npz)
        vectors = z["vectors"]  # once: each z[...] reads and inflates the whole array again
        row = {str(i): k for k, i in enumerate(z["ids"])}
        every = load_window(pf.store, date(2026, 6, 1), WINDOW_DAY + timedelta(days=2)).papers
        got = [(p.content_hash(), vectors[row[p.id]].astype(np.float32))
               for p in every.values() if p.id in row]
        pf.store.put_embeddings(MODEL_NAME, got)
        print(f"setup: {len(got):,} of {len(every):,} papers' vectors from {npz.name}")
    have = stored_vectors(pf.store, window.new_pks + liked_pool)
    todo = pf.store.get_many([pk for pk in window.new_pks + liked_pool if pk not in have])
    t = time.perf_counter()
    if todo:
        vecs = get_embedder().embed([embedding_text(p.title, p.abstract) for p in todo.values()])
        pf.store.put_embeddings(MODEL_NAME, zip((p.content_hash() for p in todo.values()), vecs, strict=True))
    print(f"setup: embedded {len(todo):,} papers ({len(have):,} reused) of the {len(window.new_pks)} new that day "
          f"+ {LIKED_POOL} liked, in {time.perf_counter() - t:.1f} s")

    # the pool of saved searches: title key phrases, categories, authors
    phrases: Counter[str] = Counter()
    authors: Counter[str] = Counter()
    cats: Counter[str] = Counter()
    for p in earlier.papers.values():
        words = [w for w in re.findall(r"[a-z][a-z0-9\-]+", p.title.lower())]
        for a, b in zip(words, words[1:], strict=False):
            if a not in STOP and b not in STOP:
                phrases[f"{a} {b}"] += 1
        authors.update(p.authors)
        cats.update(p.categories)
    pool = ([f'"{ph}"' if i % 3 == 0 else ph for i, (ph, c) in enumerate(phrases.most_common(2500)) if c >= 3]
            + [f"cat:{c}" for c, _n in cats.most_common(40)]
            + [f'author:"{a}"' for a, c in authors.most_common(400) if c >= 3]
            + [f"{ph} cat:{c}" for (ph, _), (c, _) in zip(phrases.most_common(200), cats.most_common(200) * 10,
                                                         strict=False)])
    weights = [1.0 / (i + 10) for i in range(len(pool))]
    rng.shuffle(pool)
    top_authors = [a for a, _c in authors.most_common(2000)]
    top_cats = [c for c, _c in cats.most_common(30)]
    print(f"setup: {len(pool):,} distinct saved searches in the pool")

    t = time.perf_counter()
    created = datetime(2026, 5, 1)
    with pf.store.write() as conn:
        conn.execute(insert(users), [{"id": i + 1, "email": f"user{i}@bench.example", "password_hash": "x",
                                      "created_at": created} for i in range(n)])
        conn.execute(insert(subscribers), [{
            "id": i + 1, "email": f"user{i}@bench.example", "user_id": i + 1, "status": "active",
            "frequency": "daily", "weekly_day": 0, "delivery_hour": 7, "timezone": ZONES[i % len(ZONES)],
            "sections": "trending,searches,follows,similar", "send_empty": 0, "created_at": created,
            "confirmed_at": created} for i in range(n)])
        fol, vts = [], []
        for i in range(n):
            qs = list(dict.fromkeys(rng.choices(pool, weights, k=rng.randint(2, 4))))
            fol += [{"subscriber_id": i + 1, "kind": "search", "value": q, "created_at": created} for q in qs]
            if rng.random() < 0.3:
                fol.append({"subscriber_id": i + 1, "kind": "author", "value": rng.choice(top_authors),
                            "created_at": created})
            if rng.random() < 0.3:
                fol.append({"subscriber_id": i + 1, "kind": "category", "value": rng.choice(top_cats),
                            "created_at": created})
            for pk in rng.sample(liked_pool, rng.randint(2, 5)):
                vts.append({"user_id": i + 1, "paper_pk": pk, "created_at": created + timedelta(minutes=i % 5000)})
            if len(fol) > 50_000:
                conn.execute(insert(follows), fol)
                fol = []
        if fol:
            conn.execute(insert(follows), fol)
        hot = window.new_pks[:60]
        seen = set()
        for _ in range(2000):
            u, pk = rng.randrange(1, n + 1), rng.choice(hot[: rng.randint(1, 60)])
            if (u, pk) not in seen:
                seen.add((u, pk))
                vts.append({"user_id": u, "paper_pk": pk,
                            "created_at": datetime.combine(WINDOW_DAY, datetime.min.time())
                            + timedelta(seconds=rng.randrange(86400))})
        conn.execute(insert(votes), vts)
    print(f"setup: {n:,} subscribers, {len(vts):,} upvotes written in {time.perf_counter() - t:.1f} s")
    pf.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subscribers", type=int, default=100_000)
    ap.add_argument("--db", type=Path, default=Path("/tmp/paperfeed-digest-bench/papers.db"))
    ap.add_argument("--profile", action="store_true", help="print the top functions by cumulative time")
    ap.add_argument("--embeddings-from", type=Path, help="another bench database whose embeddings to reuse")
    args = ap.parse_args()
    if not args.db.exists():
        setup(args.db, args.subscribers, random.Random(4), args.embeddings_from)
        # measure in a fresh process: the embedding model loaded by the set-up would dominate the peak memory
        os.execv(sys.executable, [sys.executable, *sys.argv])

    from paperfeed.core import Paperfeed
    from paperfeed.mail.digest import DigestBuilder
    from paperfeed.mail.schedule import due_period
    from paperfeed.mail.subscriptions import Subscriptions

    pf = Paperfeed(args.db)
    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    t0 = time.perf_counter()
    items = []
    for chunk in Subscriptions(pf.store).iter_active():
        for s in chunk:
            p = due_period(s, NOW)
            if p is not None:
                items.append((s, p))
    t1 = time.perf_counter()
    picks = Counter()
    n = empty = 0
    for d in DigestBuilder(pf).build_many(items):
        n += 1
        empty += d.empty
        picks.update(p.section for p in d.picks)
    t2 = time.perf_counter()
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    windows = Counter((p.window_start, p.window_end) for _s, p in items)
    print(f"machine: {machine()}")
    print(f"subscribers due: {len(items):,} (windows: {', '.join(f'{a}..{b}' for a, b in windows)})")
    print(f"schedule (load subscribers + due_period): {t1 - t0:.1f} s")
    print(f"build_many: {n:,} digests in {t2 - t1:.1f} s ({n / (t2 - t1):,.0f} digests/s); empty: {empty:,}")
    print(f"total: {t2 - t0:.1f} s (target <= 60 s)")
    print("picks per digest: " + ", ".join(f"{s} {picks[s] / max(n, 1):.1f}"
                                           for s in ("trending", "searches", "follows", "similar"))
          + " (similar = For you, the recommender)")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")
    pf.close()


if __name__ == "__main__":
    main()
