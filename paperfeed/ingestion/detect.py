"""Which reader reads an input: by `--format`, else by file name, else by its first bytes."""

from __future__ import annotations

import gzip
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from paperfeed.ingestion.errors import IngestError, Location, RecordError
from paperfeed.models import Paper

FORMATS = ("jsonl", "page", "bibtex", "csv", "ris", "atom", "oai")  # the built-in ones; see hookspecs.READERS
Records = Iterator[Paper | RecordError]


def sniff(path: Path) -> str:
    name = path.name.lower()
    for suffix, fmt in ((".jsonl", "jsonl"), (".jsonl.gz", "jsonl"), (".ndjson", "jsonl"), (".json.gz", "jsonl"),
                        (".bib", "bibtex"), (".bibtex", "bibtex"), (".csv", "csv"), (".ris", "ris")):
        if name.endswith(suffix):
            return fmt
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as e:
        raise IngestError(f"cannot open: {e.strerror}", Location(str(path))) from None
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path) as gz:
                head = gz.read(4096)
        except (OSError, EOFError):
            raise IngestError("corrupt gzip file", Location(str(path))) from None
        if head.lstrip()[:1] == b"{":
            return "jsonl"
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not text:
        raise IngestError("file is empty", Location(str(path)))
    if text.startswith("{"):
        return "jsonl"
    if text.startswith("@"):
        return "bibtex"
    if text.startswith("TY  -"):
        return "ris"
    if text.startswith("new") and "Get trending papers" in text[:200]:
        return "page"
    if "<OAI-PMH" in text:
        return "oai"
    if "<feed" in text:
        return "atom"
    raise IngestError(
        f"cannot tell the format (give --format, one of: {', '.join(FORMATS)})", Location(str(path))
    )


def read_atom_file(path: Path) -> Records:
    """A saved arXiv API response (Atom)."""
    from paperfeed.ingestion.arxiv_atom import parse_atom

    items, _page = parse_atom(path.read_bytes(), str(path))
    yield from items


def read_oai_file(path: Path) -> Records:
    """A saved OAI-PMH ListRecords response (arXiv or arXivRaw metadata)."""
    from paperfeed.ingestion.oai_pmh import parse_oai

    items, _page = parse_oai(path.read_bytes(), str(path))
    yield from items


def reader_for(path: Path, fmt: str, on_bytes: Callable[[int], None] | None = None) -> Records:
    from paperfeed.hookspecs import READERS, load_reader

    if fmt not in READERS:
        raise IngestError(f"unknown format {fmt!r} (one of: {', '.join(READERS)})")
    reader = load_reader(fmt)
    return reader(path, on_progress=on_bytes) if fmt == "jsonl" else reader(path)


def _download(url: str) -> Path:
    """Fetch a URL politely to a temporary file, so every reader can treat it as a file."""
    from paperfeed.ingestion.polite_http import PoliteClient

    with PoliteClient() as client:
        data, _ctype = client.get_bytes(url)
    suffix = "".join(Path(url.split("?")[0]).suffixes[-2:])
    with tempfile.NamedTemporaryFile(prefix="paperfeed-", suffix=suffix, delete=False) as tmp:
        tmp.write(data)
    return Path(tmp.name)


def open_input(
    source: str, fmt: str | None = None, on_bytes: Callable[[int], None] | None = None
) -> tuple[Records, int | None]:
    """(records, size in bytes or None) for a path or an http(s) URL."""
    from paperfeed.hookspecs import READERS

    if fmt is not None and fmt not in READERS:
        raise IngestError(f"unknown format {fmt!r} (one of: {', '.join(READERS)})")
    if source.startswith(("http://", "https://")):
        path = _download(source)
        try:
            size = path.stat().st_size
            records = reader_for(path, fmt or sniff(path), on_bytes)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return _then_delete(records, path), size
    path = Path(source)
    if not path.exists():
        raise IngestError("no such file", Location(source))
    if path.is_dir():
        raise IngestError("is a directory (give files, e.g. dir/*.jsonl.gz)", Location(source))
    fmt = fmt or sniff(path)
    return reader_for(path, fmt, on_bytes), path.stat().st_size


def _then_delete(records: Records, path: Path) -> Records:
    """Yield a downloaded file's records, then remove the temporary copy."""
    try:
        yield from records
    finally:
        path.unlink(missing_ok=True)
