"""`paperfeed backup` while the site's store is written, and `paperfeed restore` into a fresh directory.

The store holds real papers with their real embeddings, accounts, votes, subscriptions with follows and
a digest ledger.  While a writer thread ingests new papers and adds votes (each its own transaction),
the real `paperfeed backup` command runs in another process.  The backup must be one transaction-
consistent snapshot: the writer's operations it holds are exactly a prefix of what the writer did, and
every table the writer does not touch is identical.  `paperfeed restore` into a fresh directory must give
back every row of every table, and indexes that answer searches as a store built from that backup does;
a restore over a store holding data is refused without --force, and with --force its stale indexes are
rebuilt (they held papers the backup does not).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from conftest import corpus_records, make_site_pf, run_cli, write_jsonl
from shared_vectors import put_shared_embeddings
from sqlalchemy import update

from paperfeed.core import Paperfeed
from paperfeed.ingestion.pipeline import ingest_paths
from paperfeed.mail.ledger import Ledger
from paperfeed.mail.runner import plan_due
from paperfeed.mail.settings import MailSettings
from paperfeed.mail.subscriptions import Follow, Subscriptions
from paperfeed.ranking.community import Community
from paperfeed.store.accounts import AccountStore
from paperfeed.store.schema import subscribers

QUERIES = ["language models", '"reinforcement learning" robot', "graph neural network", "diffusion image"]
NOW = datetime(2025, 9, 30, 9, 0)


def tables(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table, in a stable order."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as c:
        names = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        out = {n: sorted(c.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr) for n in names}
    c.close()
    return out


def searches(pf: Paperfeed) -> list[list[str]]:
    return [[r.paper.id for r in pf.engine.search(q, limit=20)] for q in QUERIES]


@pytest.fixture
def live(tmp_path) -> Path:
    """The store a site would serve: papers (embedded), accounts, votes, subscriptions, a digest ledger."""
    pf = make_site_pf(tmp_path)
    ids = [p.id for p in pf.store.get_many(list(range(1, 302))).values()]
    assert put_shared_embeddings(pf, ids) >= 290
    pf.refresh_vector_index()
    com = Community(pf.store)
    users = [AccountStore(pf.store).create_user(f"u{i}@example.org", "argon2-hash-placeholder") for i in range(5)]
    for u in users:
        for pk in range(1 + u.id, 40, 3):
            com.toggle_vote(u.id, pk)
    subs = Subscriptions(pf.store)
    sids = []
    for i, q in enumerate(["learning", "language model", "robot"]):
        s, _ = subs.subscribe(f"s{i}@example.org", None, follows_=[Follow("search", q)])
        subs.confirm(s.id)
        sids.append(s.id)
    with pf.store.write() as conn:
        conn.execute(update(subscribers).where(subscribers.c.id.in_(sids))
                     .values(confirmed_at=datetime(2025, 9, 1), created_at=datetime(2025, 9, 1)))
    planned = plan_due(pf, Ledger(pf.store), MailSettings(sender="d@example.org", base_url="http://x"), NOW)
    assert planned.planned + planned.empty == 3
    pf.close()
    return tmp_path / "site.db"


class Writer(threading.Thread):
    """Ingests new real papers (20 a transaction) and adds votes (one a transaction), logging each op,
    until stopped (votes only, once the new papers run out)."""

    def __init__(self, db: Path, directory: Path):
        super().__init__(daemon=True)
        self.pf = Paperfeed(db)
        recs = corpus_records(800, skip=60000)
        self.batch_ids = [{r["id"] for r in recs[i : i + 20]} for i in range(0, 800, 20)]
        self.batches = [write_jsonl(directory / f"new{i}.jsonl", recs[20 * i : 20 * i + 20]) for i in range(40)]
        self.ops: list[tuple[str, object]] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        com, accounts = Community(self.pf.store), AccountStore(self.pf.store)
        user = accounts.create_user("writer@example.org", "argon2-hash-placeholder")
        self.ops.append(("user", user.id))
        try:
            i = 0
            while not self.stop.is_set():
                if i < len(self.batches):
                    ingest_paths(self.pf.store, [str(self.batches[i])])
                    self.ops.append(("ingest", i))
                if i < 100:  # papers 1..300 exist from the start
                    for pk in range(1 + 3 * i, 4 + 3 * i):
                        com.toggle_vote(user.id, pk)
                        self.ops.append(("vote", (user.id, pk)))
                else:  # then new accounts, until stopped
                    self.ops.append(("user", accounts.create_user(f"w{i}@example.org", "argon2-hash-placeholder").id))
                i += 1
                time.sleep(0.02)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e
        finally:
            self.pf.close()


def ops_in(path: Path, writer: Writer) -> list[bool]:
    """For each op of the writer, whether the database at `path` holds its effect."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as c:
        ids = {r[0] for r in c.execute("SELECT id FROM papers")}
        votes = set(c.execute("SELECT user_id, paper_pk FROM votes").fetchall())
        users = {r[0] for r in c.execute("SELECT id FROM users")}
    c.close()
    out = []
    for kind, key in writer.ops:
        if kind == "user":
            out.append(key in users)
        elif kind == "ingest":
            batch_ids = writer.batch_ids[key]  # type: ignore[index]
            present = batch_ids & ids
            assert present in (set(), batch_ids), "an ingest transaction is half in the backup"
            out.append(bool(present))
        else:
            out.append(key in votes)
    return out


def test_backup_under_write_load_restores_every_row_and_working_indexes(live, tmp_path) -> None:
    before = tables(live)
    writer = Writer(live, tmp_path)
    writer.start()
    while len(writer.ops) < 10 and writer.is_alive():
        time.sleep(0.05)
    backup = tmp_path / "backups" / "site-backup.db"
    backup.parent.mkdir()
    done = run_cli("backup", str(backup), db=live)
    ops_at_backup = len(writer.ops)
    while len(writer.ops) < ops_at_backup + 10 and writer.is_alive():
        time.sleep(0.05)
    writer.stop.set()
    writer.join(120)
    assert writer.error is None, writer.error
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "backed up" in done.stderr
    assert not Path(str(backup) + "-wal").exists()  # one self-contained file

    # one consistent snapshot: the writer's ops it holds are a prefix of what the writer did
    held = ops_in(backup, writer)
    k = held.index(False) if False in held else len(held)
    assert all(held[:k]) and not any(held[k:]), held
    assert 0 < k < len(writer.ops)  # taken while the writer was writing, not before or after
    after = tables(live)
    got = tables(backup)
    for t in ("embeddings", "subscribers", "follows", "digests", "digest_items", "api_tokens", "submissions"):
        assert got[t] == before[t] == after[t], t  # tables the writer does not touch: identical
    assert set(before["papers"]) <= set(got["papers"]) <= set(after["papers"])
    assert set(before["votes"]) <= set(got["votes"]) <= set(after["votes"])
    assert len(got["papers"]) > len(before["papers"])  # it holds some of the writes...
    assert sum(map(len, after.values())) > sum(map(len, got.values()))  # ...and the store went on after it

    # restore into a fresh directory: every row of every table back
    fresh = tmp_path / "elsewhere" / "restored.db"
    r = run_cli("restore", str(backup), db=fresh)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    restored = tables(fresh)
    assert restored.keys() == got.keys()
    for t in got:
        assert restored[t] == got[t], t

    # working indexes: the same answers as a store built from the backup file itself
    ref_db = tmp_path / "ref" / "ref.db"
    ref_db.parent.mkdir()
    ref_db.write_bytes(backup.read_bytes())
    ref = Paperfeed(ref_db)
    ref.refresh_keyword_index()
    ref.refresh_vector_index()
    expected = searches(ref)
    ref.close()
    assert all(expected)
    pf = Paperfeed(fresh)
    try:
        assert searches(pf) == expected
        st = pf.status()
        assert st.keyword_fresh and st.vectors_fresh and st.vectors == len(got["embeddings"])
    finally:
        pf.close()

    # over the live store (which holds data): refused without --force, nothing changed
    refused = run_cli("restore", str(backup), db=live)
    assert refused.returncode == 1 and "--force" in refused.stderr and "Traceback" not in refused.stderr
    assert tables(live) == after
    # with --force: the backup's rows, and its indexes rebuilt (they held papers the backup lacks)
    forced = run_cli("restore", str(backup), "--force", db=live)
    assert forced.returncode == 0, forced.stderr
    assert tables(live)["papers"] == got["papers"]
    pf = Paperfeed(live)
    try:
        assert searches(pf) == expected
    finally:
        pf.close()


def test_backup_and_restore_refuse_bad_input_in_one_line(live, tmp_path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("not a database")
    for args, db, words in [(("backup", str(tmp_path / "no" / "dir" / "b.db")), live, "no such directory"),
                            (("backup", str(live)), live, "database itself"),
                            (("restore", str(junk)), tmp_path / "x.db", "not a readable SQLite database"),
                            (("restore", str(tmp_path / "absent.db")), tmp_path / "x.db", "no backup file")]:
        r = run_cli(*args, db=db)
        assert r.returncode == 1 and words in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
