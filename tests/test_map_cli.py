"""`paperfeed index` keeps the map of the papers (recommend/map_file.py) as derived data: built after the
vectors, left alone when fresh, rebuilt when corrupt or on `--rebuild`."""

from __future__ import annotations

import re

from conftest import corpus_records, run_cli, write_jsonl


def _built(stderr: str) -> tuple[int, int] | None:
    m = re.search(r"map of the papers: ([\d,]+) papers in (\d+) clusters", stderr)
    return (int(m.group(1).replace(",", "")), int(m.group(2))) if m else None


def test_index_builds_keeps_and_heals_the_map(tmp_path):
    db = tmp_path / "m.db"
    run_cli("ingest", str(write_jsonl(tmp_path / "a.jsonl", corpus_records(40, skip=52000))), db=db, check=True)
    map_path = tmp_path / "m.db.indexes" / "map.npz"

    first = run_cli("index", db=db, check=True)
    built = _built(first.stderr)
    assert built is not None and built[0] == 40 and built[1] >= 2, first.stderr
    assert map_path.is_file()

    again = run_cli("index", db=db, check=True)
    assert "map of the papers: up to date" in again.stderr and _built(again.stderr) is None

    map_path.write_bytes(b"not a map \x00 at all")
    healed = run_cli("index", db=db, check=True)
    assert "map of the papers: corrupt, building it" in healed.stderr, healed.stderr
    assert _built(healed.stderr) == built
    assert list(map_path.parent.glob("map.broken-*.npz")), "the unreadable file is kept aside, not deleted"

    forced = run_cli("index", "--rebuild", db=db, check=True)
    assert "rebuild asked" in forced.stderr and _built(forced.stderr) == built, forced.stderr
