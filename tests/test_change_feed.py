"""The change feed under concurrent writers: an index catching up "after seq N" never skips a row.

Writers take their seq and then keep their transaction open a little (a sleep between the seq and the
commit, where a slow ingest would be); readers follow the exact protocol of the derived indexes
(`LexicalIndex.sync`, `SemanticIndex.sync`): read the high-water mark, read every row after the
mark they applied last, record the new mark.  A row whose seq became visible after a higher seq
had been read as a mark would be skipped for good; the test asserts none is.
"""

from __future__ import annotations

import random
import threading
import time

import numpy as np
from store_backends import open_store, store_backend  # noqa: F401  (fixture)

from paperfeed.models import new_paper

WRITERS = 4
WRITES_EACH = 30
MODEL = "test-model"


def _writer(store, w: int, errors: list) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(w)
    try:
        for i in range(WRITES_EACH):
            p = new_paper(title=f"Paper {w}-{i} on feed ordering", abstract=f"writer {w} write {i}",
                          arxiv_id=f"2601.{w:01d}{i:04d}", source="arxiv-api")
            with store.paper_batch() as batch:
                batch.upsert([p])
                time.sleep(rng.random() * 0.004)  # hold the transaction open after taking the seq
            vec = np.zeros(4, dtype=np.float32)
            vec[w % 4] = 1.0
            store.put_embeddings(MODEL, [(p.content_hash(), vec)])
    except BaseException as e:  # noqa: BLE001 - reported by the test
        errors.append(e)


def _follow(store, done: threading.Event, seen_papers: set, seen_vectors: set, marks: list) -> None:  # type: ignore[no-untyped-def]
    papers_mark = vectors_mark = 0
    while True:
        last_round = done.is_set()
        target = store.papers_seq()
        for chunk in store.iter_changed(papers_mark):
            seen_papers.update(pk for pk, _s, _p in chunk)
        papers_mark = max(papers_mark, target)
        target = store.current_seq()
        for pks, _vecs, _missing in store.iter_vectors_changed(MODEL, vectors_mark):
            seen_vectors.update(int(k) for k in pks)
        vectors_mark = max(vectors_mark, target)
        marks.append((papers_mark, vectors_mark))
        if last_round:
            return


def test_change_feed_never_skips_a_row_under_concurrent_writers(store_backend, tmp_path):  # noqa: F811
    store = open_store(store_backend, tmp_path)
    errors: list = []
    done = threading.Event()
    seen_papers: set[int] = set()
    seen_vectors: set[int] = set()
    marks: list[tuple[int, int]] = []
    follower = threading.Thread(target=_follow, args=(store, done, seen_papers, seen_vectors, marks))
    follower.start()
    writers = [threading.Thread(target=_writer, args=(store, w, errors)) for w in range(WRITERS)]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    follower.join()
    assert not errors, errors
    with store.read() as conn:
        from sqlalchemy import text

        all_pks = {r[0] for r in conn.execute(text("select pk from papers"))}
        seqs = [r[0] for r in conn.execute(text("select seq from papers"))]
    assert len(all_pks) == WRITERS * WRITES_EACH
    assert len(set(seqs)) == len(seqs)  # every write transaction got a seq of its own
    assert len(marks) > 3  # the follower caught up many times while the writers ran
    assert seen_papers == all_pks  # no paper was skipped by the keyword feed
    assert seen_vectors == all_pks  # no embedding was skipped by the vector feed
    store.close()
