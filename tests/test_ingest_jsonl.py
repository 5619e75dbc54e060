"""JSON-lines ingestion: both schemas, gzip streams, bad input reported with file:line, nothing half-written."""

from __future__ import annotations

import gzip
import json
from datetime import date

from conftest import corpus_records, run_cli, write_jsonl

from paperfeed.ingestion.jsonl import read_jsonl
from paperfeed.ingestion.pipeline import ingest_paths
from paperfeed.models import Paper
from paperfeed.store.papers import Store

SNAPSHOT = {
    "id": "0704.0001",
    "submitter": "Pavel Nadolsky",
    "authors": "C. Bal\\'azs, E. L. Berger, P. M. Nadolsky, C.-P. Yuan",
    "title": "Calculation of prompt diphoton production cross sections at Tevatron and\n  LHC energies",
    "comments": "37 pages, 15 figures; published version",
    "journal-ref": "Phys.Rev.D76:013009,2007",
    "doi": "10.1103/PhysRevD.76.013009",
    "report-no": "ANL-HEP-PR-07-12",
    "categories": "hep-ph",
    "license": None,
    "abstract": "  A fully differential calculation in perturbative quantum chromodynamics is\npresented for the "
    "production of "
    "massive photon pairs at hadron colliders. $\\alpha_s$ and 5\\% <b>bold</b>.\n",
    "versions": [{"version": "v1", "created": "Mon, 2 Apr 2007 19:18:42 GMT"},
                 {"version": "v2", "created": "Tue, 24 Jul 2007 20:10:27 GMT"}],
    "update_date": "2008-11-13",
    "authors_parsed": [["Balázs", "C.", ""], ["Berger", "E. L.", ""], ["Nadolsky", "P. M.", ""],
                       ["Yuan", "C. -P.", ""]],
}


def test_snapshot_schema_maps_every_field(tmp_path):
    f = write_jsonl(tmp_path / "snap.jsonl", [SNAPSHOT])
    (p,) = list(read_jsonl(f))
    assert isinstance(p, Paper)
    assert p.id == "0704.0001" and p.arxiv_id == "0704.0001"
    assert p.doi == "10.1103/physrevd.76.013009"
    assert p.title == "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    assert p.authors == ["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C. -P. Yuan"]
    assert p.categories == ["hep-ph"]
    assert p.published == date(2007, 4, 2) and p.updated == date(2008, 11, 13)
    assert "$\\alpha_s$ and 5\\% <b>bold</b>." in p.abstract  # kept as given
    assert p.comment == "37 pages, 15 figures; published version"
    assert p.links["pdf"] == "https://arxiv.org/pdf/0704.0001"


def test_own_schema_and_gzip_stream(tmp_path):
    recs = corpus_records(50)
    f = write_jsonl(tmp_path / "own.jsonl.gz", recs, gz=True)
    papers = list(read_jsonl(f))
    assert [p.id for p in papers] == [r["id"] for r in recs]
    assert papers[0].listed == date.fromisoformat(recs[0]["date"])
    assert papers[1].authors == recs[1]["authors"] and papers[1].categories == recs[1]["categories"]


def test_malformed_lines_are_reported_with_line_and_skipped(tmp_path):
    good = corpus_records(3)
    lines = [json.dumps(good[0]), "{not json", json.dumps({"id": "2501.00001"}), json.dumps(good[1]),
             json.dumps(["a", "list"]), json.dumps(good[2])]
    f = tmp_path / "bad.jsonl"
    f.write_bytes(("\n".join(lines) + "\n").encode() + b'{"id": "2501.2", "title": "caf\xe9"}\n')
    out = list(read_jsonl(f))
    errors = [o for o in out if not isinstance(o, Paper)]
    assert [e.location.line for e in errors] == [2, 3, 5, 7]
    assert "invalid JSON" in errors[0].message and "title" in errors[1].message
    assert "not UTF-8" in errors[3].message and str(errors[3]).startswith(f"{f}:7")
    assert len([o for o in out if isinstance(o, Paper)]) == 3


def test_ingest_is_idempotent_and_reports_counts(tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", corpus_records(200))
    store = Store.open(tmp_path / "db.sqlite")
    first = ingest_paths(store, [str(f)])
    assert (first.total("added"), first.total("updated"), first.total("unchanged")) == (200, 0, 0)
    seq = store.current_seq()
    second = ingest_paths(store, [str(f)])
    assert (second.total("added"), second.total("updated"), second.total("unchanged")) == (0, 0, 200)
    assert store.count() == 200
    assert store.count_changed(seq) == 0  # nothing was rewritten, so no index work either


def test_strict_rejects_whole_input(tmp_path):
    recs = corpus_records(20)
    f = tmp_path / "s.jsonl"
    f.write_text("\n".join([*(json.dumps(r) for r in recs[:10]), "oops", *(json.dumps(r) for r in recs[10:])]))
    store = Store.open(tmp_path / "db.sqlite")
    rep = ingest_paths(store, [str(f)], strict=True)
    assert rep.failed and rep.failed[0].failure.location.line == 11
    assert store.count() == 0
    rep = ingest_paths(store, [str(f)])
    assert rep.total("added") == 20 and rep.total("rejected") == 1


def test_truncated_gzip_saves_nothing_and_says_where(tmp_path):
    data = gzip.compress("".join(json.dumps(r) + "\n" for r in corpus_records(500)).encode())
    f = tmp_path / "cut.jsonl.gz"
    f.write_bytes(data[: len(data) // 2])
    store = Store.open(tmp_path / "db.sqlite")
    rep = ingest_paths(store, [str(f)])
    (inp,) = rep.failed
    assert "truncated or corrupt" in inp.failure.message and inp.failure.location.line > 1
    assert store.count() == 0


def test_oversized_line_is_skipped_without_loading_it(tmp_path, monkeypatch):
    import paperfeed.ingestion.jsonl as mod

    monkeypatch.setattr(mod, "MAX_LINE", 20_000)
    recs = corpus_records(2)
    f = tmp_path / "huge.jsonl"
    f.write_text(json.dumps(recs[0]) + "\n" + '{"title": "' + "x" * 50_000 + '"}\n' + json.dumps(recs[1]) + "\n")
    out = list(read_jsonl(f))
    assert [getattr(o, "id", None) for o in out] == [recs[0]["id"], None, recs[1]["id"]]
    assert out[1].location.line == 2 and "longer than" in out[1].message


def test_cli_ingest_summary_errors_and_exit_codes(tmp_path):
    db = tmp_path / "cli.db"
    f = write_jsonl(tmp_path / "x.jsonl", corpus_records(30))
    with f.open("a") as fh:
        fh.write("{broken\n")
    proc = run_cli("ingest", str(f), db=db)
    assert proc.returncode == 0, proc.stderr
    assert "added 30, updated 0, unchanged 0, rejected 1" in proc.stderr
    assert f"{f}:31" in proc.stderr and "Traceback" not in proc.stderr
    again = run_cli("ingest", str(f), db=db)
    assert "added 0, updated 0, unchanged 30, rejected 1" in again.stderr
    strict = run_cli("ingest", "--strict", str(f), db=db)
    assert strict.returncode == 1
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    for bad, msg in ((empty, "empty"), (tmp_path / "missing.jsonl", "no such file"), (tmp_path, "directory")):
        p = run_cli("ingest", str(bad), db=db)
        assert p.returncode == 1 and msg in p.stderr and "Traceback" not in p.stderr, p.stderr
    garbage = tmp_path / "blob.bin"
    garbage.write_bytes(bytes(range(256)) * 10)
    p = run_cli("ingest", str(garbage), db=db)
    assert p.returncode == 1 and "cannot tell the format" in p.stderr
    assert run_cli("ingest", db=db).returncode == 2


def test_ingest_from_a_url(tmp_path):
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    recs = corpus_records(25, skip=300)
    write_jsonl(tmp_path / "feed.jsonl.gz", recs, gz=True)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        db = tmp_path / "u.db"
        ok = run_cli("ingest", f"{base}/feed.jsonl.gz", db=db)
        assert ok.returncode == 0 and "added 25" in ok.stderr, ok.stderr
        missing = run_cli("ingest", f"{base}/nope.jsonl", db=db)
        assert missing.returncode == 1 and "404" in missing.stderr and "Traceback" not in missing.stderr
    finally:
        httpd.shutdown()
