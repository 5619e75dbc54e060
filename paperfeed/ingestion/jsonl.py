"""JSON lines: the public arXiv metadata snapshot, and paperfeed's own schema.

Both are read as a stream (a `.gz` is decompressed on the fly), one record per
line.  A bad line is a `RecordError` naming the file and line; a truncated gzip or
an unreadable file is an `IngestError`.  Lines longer than `MAX_LINE` are skipped
without being held in memory.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import zlib
from collections.abc import Callable, Iterator
from datetime import date
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any

from paperfeed.ingestion.errors import IngestError, Location, RecordError
from paperfeed.ingestion.sanitise import checked
from paperfeed.models import Paper, new_paper

MAX_LINE = 4 * 1024 * 1024  # a real record is a few KB; 4 MB is surely garbage


def _date(value: Any) -> date | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        pass
    try:  # arXiv snapshot versions: "Mon, 2 Apr 2007 19:18:42 GMT"
        return parsedate_to_datetime(value).date()
    except (TypeError, ValueError):
        return None


def _authors_from_parsed(parsed: list) -> list[str]:
    out = []
    for parts in parsed:
        if not isinstance(parts, list) or not parts:
            continue
        last, first = parts[0], parts[1] if len(parts) > 1 else ""
        suffix = parts[2] if len(parts) > 2 else ""
        out.append(" ".join(x for x in (first, last, suffix) if x))
    return out


def record_to_paper(obj: dict) -> Paper:
    """Map one JSON object (snapshot or own schema) to a `Paper`; raises ValueError if unusable."""
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    title = obj.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ValueError("missing 'title'")
    rid = obj.get("id")
    if rid is not None and not isinstance(rid, str | int | float):
        raise ValueError("'id' must be a string")
    rid = str(rid) if rid is not None else None
    abstract = obj.get("abstract") or ""
    if not isinstance(abstract, str):
        raise ValueError("'abstract' must be a string")

    authors_raw = obj.get("authors")
    if isinstance(obj.get("authors_parsed"), list):
        authors = _authors_from_parsed(obj["authors_parsed"])
    elif isinstance(authors_raw, list):
        authors = [str(a) for a in authors_raw if a]
    elif isinstance(authors_raw, str):
        authors = [a.strip() for a in authors_raw.replace(" and ", ", ").split(",") if a.strip()]
    else:
        authors = []

    cats = obj.get("categories") or []
    categories = cats.split() if isinstance(cats, str) else [str(c) for c in cats]

    versions = obj.get("versions") or []
    vdates = [_date(v.get("created")) for v in versions if isinstance(v, dict)]
    vdates = [d for d in vdates if d]
    snapshot = "versions" in obj or "authors_parsed" in obj or "update_date" in obj
    published = min(vdates) if vdates else _date(obj.get("published"))
    updated = _date(obj.get("update_date")) or (max(vdates) if vdates else _date(obj.get("updated")))
    listed = _date(obj.get("date")) if not snapshot else None

    links = {}
    for key in ("code", "pdf", "abs"):
        if isinstance(obj.get(key), str):
            links[key] = obj[key]
    aid = rid if rid and not rid.startswith("10.") else None
    doi = obj.get("doi") if isinstance(obj.get("doi"), str) else None
    if aid is None and doi is None and rid:
        raise ValueError(f"unrecognised id {rid!r}")
    return new_paper(
        title=title,
        abstract=abstract,
        arxiv_id=aid,
        doi=doi,
        source="arxiv-jsonl",
        authors=authors,
        categories=categories,
        published=published,
        updated=updated,
        listed=listed,
        links=links,
        comment=obj.get("comment") or obj.get("comments"),
    )


def _open(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    """(decoded stream, raw file) - the raw file's position drives the progress bar."""
    try:
        raw = path.open("rb")
    except OSError as e:
        raise IngestError(f"cannot open: {e.strerror}", Location(str(path))) from None
    head = raw.read(2)
    raw.seek(0)
    if head == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw), raw  # type: ignore[return-value]
    return raw, raw


def read_jsonl(path: Path, on_progress: Callable[[int], None] | None = None) -> Iterator[Paper | RecordError]:
    """Yield papers (and errors) from a JSON-lines file, gzip or plain."""
    stream, raw = _open(path)
    src = str(path)
    lineno = 0
    offset = 0
    seen_any = False
    try:
        while True:
            try:
                line = stream.readline(MAX_LINE + 1)
            except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
                raise IngestError(
                    f"compressed stream is truncated or corrupt after line {lineno} ({e}); nothing was saved",
                    Location(src, line=lineno + 1),
                ) from None
            if not line:
                break
            lineno += 1
            start = offset
            offset += len(line)
            if on_progress and lineno % 512 == 0:
                on_progress(raw.tell())
            if len(line) > MAX_LINE and not line.endswith(b"\n"):
                seen_any = True
                while True:  # skip the rest of the oversized line without holding it
                    more = stream.readline(MAX_LINE)
                    offset += len(more)
                    if not more or more.endswith(b"\n"):
                        break
                yield RecordError(Location(src, line=lineno), f"line longer than {MAX_LINE // 1024 // 1024} MB")
                continue
            if not line.strip():
                continue
            seen_any = True
            try:
                text = line.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as e:
                bad = line[e.start : e.start + 1]
                yield RecordError(Location(src, line=lineno), f"not UTF-8 (byte offset {start + e.start}: {bad!r})")
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                yield RecordError(Location(src, line=lineno), f"invalid JSON: {e.msg} at column {e.colno}")
                continue
            try:
                yield from checked(record_to_paper(obj), Location(src, line=lineno))
            except ValueError as e:
                yield RecordError(Location(src, line=lineno), str(e))
    finally:
        if on_progress:
            with contextlib.suppress(ValueError):
                on_progress(raw.tell())
        stream.close()
        raw.close()
    if not seen_any:
        raise IngestError("file is empty (no records)", Location(src))


