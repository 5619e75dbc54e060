"""`paperfeed` command line: ingest, index, search, similar, show, status, serve.

Exit codes: 0 ok, 1 a user error (one line on stderr saying what and where), 2 usage.
Progress bars and summaries go to stderr, so `--format json|page` output can be piped.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from paperfeed.cli import render
from paperfeed.cli.common import UserError, configure, open_core, settings

if TYPE_CHECKING:
    from paperfeed.core import Paperfeed

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="paperfeed: find the papers that matter.",
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)  # one message, one line (tests and logs read them)


class Fmt(StrEnum):
    page = "page"
    json = "json"
    table = "table"


class ShowFmt(StrEnum):
    table = "table"
    json = "json"
    bibtex = "bibtex"


class Mode(StrEnum):
    hybrid = "hybrid"
    keyword = "keyword"
    semantic = "semantic"


_state: dict = {}


@app.callback()
def _root(
    db: Annotated[str | None, typer.Option("--db", help="Database: a SQLite file or a postgresql:// URL "
                                           "(default $PAPERFEED_DB).")] = None,
    index_dir: Annotated[Path | None, typer.Option("--index-dir", help="Folder of the derived indexes (default "
                                                   "$PAPERFEED_INDEX_DIR, else beside a SQLite file).")] = None,
):
    _state["db"] = db
    configure(db, index_dir)


def _pf():  # type: ignore[no-untyped-def]
    if "pf" not in _state:
        _state["pf"] = open_core(_state.get("db"))
    return _state["pf"]


def _bar(description: str) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err, transient=False, disable=not err.is_terminal and not _progress_forced())


def _progress_forced() -> bool:
    return settings().progress


def _parse_day(value: str | None, what: str) -> date | None:
    if value is None:
        return None
    from paperfeed.search.query import QueryError, _parse_date

    try:
        return _parse_date(value, what)
    except QueryError as e:
        raise UserError(str(e)) from None


# -- ingest ---------------------------------------------------------------------------------------


@app.command()
def ingest(
    sources: Annotated[list[str], typer.Argument(help="Files, URLs, or `arxiv` to harvest arXiv.")],
    format: Annotated[str | None, typer.Option("--format", "-f", help="jsonl|page|bibtex|csv|ris|atom|oai")] = None,
    strict: Annotated[bool, typer.Option(help="Reject a whole input if any record is malformed.")] = False,
    category: Annotated[str | None, typer.Option(help="arXiv category, with `ingest arxiv`.")] = None,
    since: Annotated[str | None, typer.Option(help="First day, with `ingest arxiv`.")] = None,
    until: Annotated[str | None, typer.Option(help="Last day, with `ingest arxiv`.")] = None,
    endpoint: Annotated[str, typer.Option(help="oai or api, with `ingest arxiv`.")] = "oai",
    base_url: Annotated[str | None, typer.Option(help="Override the arXiv endpoint URL.")] = None,
    interval: Annotated[float, typer.Option(help="Seconds between arXiv requests.")] = 3.0,
) -> None:
    """Add papers from files (JSON lines, saved pages, BibTeX, CSV, RIS, arXiv XML) or harvest arXiv."""
    pf = _pf()
    if sources == ["arxiv"]:
        from paperfeed.ingestion.harvest_cli import harvest

        report = harvest(pf, category, _parse_day(since, "since"), _parse_day(until, "until"), endpoint, base_url,
                         interval, strict, err)
    else:
        from paperfeed.ingestion.pipeline import ingest_paths

        with _bar("ingest") as bar:
            task = bar.add_task("ingest", total=None)

            def on_start(path: str, size: int | None) -> None:
                bar.reset(task, total=size, description=f"ingest {Path(path).name}")

            report = ingest_paths(pf.store, sources, format, strict, on_start=on_start,
                                  on_bytes=lambda n: bar.update(task, completed=n))
    _summarise(report)
    with _bar("keyword index") as bar:
        task = bar.add_task("keyword index", total=None)
        pf.refresh_keyword_index(lambda d, t: bar.update(task, completed=d, total=t))
    if report.failed or (strict and report.total("rejected")):
        raise typer.Exit(1)


def _summarise(report) -> None:  # type: ignore[no-untyped-def]
    for inp in report.inputs:
        for e in inp.errors[:20]:
            err.print(f"[yellow]skipped[/] {e}", markup=True, highlight=False)
        if len(inp.errors) > 20:
            err.print(f"… and {len(inp.errors) - 20} more malformed records in {inp.source}")
        for w in inp.warnings[:20]:
            err.print(f"[yellow]changed[/] {w}", markup=True, highlight=False)
        if len(inp.warnings) > 20:
            err.print(f"… and {len(inp.warnings) - 20} more changed records in {inp.source}")
        if inp.failure:
            err.print(f"[red]error[/] {inp.failure} — nothing from this input was saved", highlight=False)
    err.print(
        f"added {report.total('added')}, updated {report.total('updated')}, unchanged {report.total('unchanged')}, "
        f"rejected {report.total('rejected')}" + (f"; {len(report.failed)} input(s) failed" if report.failed else "")
    )
    unchanged = report.total("unchanged")
    if unchanged:  # e.g. the README's first `ingest` after `./run.sh` has already ingested the same file
        nothing_new = not (report.total("added") or report.total("updated"))
        err.print(f"unchanged {unchanged:,}: already in the store with the same metadata"
                  + ("; nothing new to add (ingesting the same input again changes nothing)" if nothing_new else ""),
                  markup=False, highlight=False)


# -- index ----------------------------------------------------------------------------------------


@app.command()
def index(
    rebuild: Annotated[bool, typer.Option(help="Rebuild both indexes from the store.")] = False,
    limit: Annotated[int | None, typer.Option(help="Embed at most this many papers (newest first).")] = None,
) -> None:
    """Compute missing embeddings (newest first) and bring keyword and vector indexes up to date."""
    pf = _pf()
    with _bar("keyword index") as bar:
        t = bar.add_task("keyword index", total=None)
        pf.refresh_keyword_index(lambda d, n: bar.update(t, completed=d, total=n), rebuild=rebuild)
    from paperfeed.cli.index_wait import wait_for_other_embedder

    try:
        waited = wait_for_other_embedder(pf, limit, _bar, err)
    except KeyboardInterrupt:
        err.print("stopped waiting; the other embedder goes on (progress: `paperfeed status`, /status)")
        raise typer.Exit(130) from None
    n = 0
    if waited is not None and waited.reached:
        rest = waited.papers - waited.embedded
        err.print(f"done: {waited.embedded:,}/{waited.papers:,} papers have embeddings"
                  + (f"; {waited.holder} goes on with the other {rest:,}" if rest > 0 else ""),
                  markup=False, highlight=False)
    else:
        left = limit if waited is None or limit is None else max(0, waited.target - waited.embedded)
        if left != 0:  # (a limit of 0 would mean "no limit" to the store)
            with _bar("embed") as bar:
                t = bar.add_task("embed", total=None)
                n = pf.embed(lambda d, total: bar.update(t, completed=d, total=total), limit=left)
    with _bar("vector index") as bar:
        t = bar.add_task("vector index", total=None)
        pf.refresh_vector_index(lambda d, n: bar.update(t, completed=d, total=n), rebuild=rebuild)
    s = pf.status()
    err.print(f"embedded {n} new; {s.embedded}/{s.papers} papers have embeddings; vector index holds {s.vectors}")
    _refresh_map(pf, rebuild)


def _refresh_map(pf: Paperfeed, rebuild: bool) -> None:
    """The map of the papers (recommend/map_file.py): rebuilt when missing, corrupt or stale (or `--rebuild`)."""
    from paperfeed.recommend.map_file import MapFile

    mf = MapFile(pf.index_dir)
    state, _ = mf.state(pf.store)
    if rebuild and state == "ok":
        state = "rebuild asked"
    if state in ("ok", "too-few"):
        err.print("map of the papers: up to date" if state == "ok" else
                  "map of the papers: needs at least 3 papers with embeddings", markup=False)
        return
    err.print(f"map of the papers: {state}, building it ...", markup=False)
    if mf.rebuild(pf.store, state, force=rebuild):
        _, sm = mf.state(pf.store)
        if sm is not None:
            err.print(f"map of the papers: {len(sm.map.ids):,} papers in {len(sm.map.labels)} clusters", markup=False)
    else:
        err.print("map of the papers: another process is building it", markup=False)


# -- search ---------------------------------------------------------------------------------------


@app.command()
def search(
    query: Annotated[str, typer.Argument(help='Words, "phrases", prefix*, -exclude, author:, cat:, since:, until:')],
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    offset: Annotated[int, typer.Option(min=0, max=10000)] = 0,
    since: Annotated[str | None, typer.Option(help="Listed on or after (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Listed on or before (YYYY-MM-DD).")] = None,
    category: Annotated[list[str] | None, typer.Option("--category", "-c", help="arXiv category (repeatable).")] = None,
    format: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table,
    mode: Annotated[Mode, typer.Option(help="hybrid, keyword or semantic")] = Mode.hybrid,
) -> None:
    """Search papers: literal matches first, then papers close in meaning."""
    from paperfeed.search.query import QueryError, parse_query

    try:
        uq = parse_query(query, since=_parse_day(since, "since"), until=_parse_day(until, "until"),
                         categories=category)
    except QueryError as e:
        raise UserError(f"bad query: {e}") from None
    engine = _pf().engine
    results = engine.search(uq, limit=limit, offset=offset, mode=mode.value)
    if format is Fmt.table:
        from paperfeed.cli.results import match_count

        total = match_count(engine, uq, mode.value)
        err.print(render.count_line(total, offset, len(results), related=mode is not Mode.keyword and uq.has_text),
                  markup=False, highlight=False)
    _print_results(results, format, first=offset + 1)


def _print_results(results, format: Fmt, best: float = render.SEARCH_BEST, first: int = 1) -> None:  # type: ignore[no-untyped-def]
    if format is Fmt.json:
        out.print(render.results_json(results, best), markup=False, highlight=False)
    elif format is Fmt.page:
        sys.stdout.write(render.results_page(results) + "\n")
    elif results:
        render.results_table(results, out, best, first)


@app.command()
def similar(
    paper_id: Annotated[str, typer.Argument(help="Paper id, e.g. 2503.11731")],
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 10,
    format: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table,
) -> None:
    """Papers similar to a paper (semantic neighbours fused with shared keywords)."""
    try:
        results = _pf().engine.similar(paper_id, limit)
    except KeyError:
        raise UserError(f"no paper with id {paper_id!r}") from None
    if format is Fmt.table and not results:
        err.print("no similar papers", markup=False)
    _print_results(results, format, render.SIMILAR_BEST)


@app.command()
def show(
    paper_id: Annotated[str, typer.Argument(help="Paper id, e.g. 2503.11731")],
    format: Annotated[ShowFmt, typer.Option("--format", "-f", help="table, json or bibtex")] = ShowFmt.table,
) -> None:
    """Show everything the store knows about one paper (`--format bibtex`: its BibTeX entry, to cite it)."""
    p = _pf().store.get(paper_id)
    if p is None:
        raise UserError(f"no paper with id {paper_id!r}")
    if format is ShowFmt.bibtex:
        from paperfeed.present.bibtex import paper_bibtex

        sys.stdout.write(paper_bibtex(p).rstrip("\n") + "\n")
        return
    d = render.paper_json(p)
    if format is ShowFmt.json:
        out.print(json.dumps(d, ensure_ascii=False, indent=2), markup=False, highlight=False)
        return
    for k, v in d.items():
        if v not in (None, [], {}):
            out.print(f"[bold]{k}[/]: ", end="")
            out.print(", ".join(v) if isinstance(v, list) else json.dumps(v) if isinstance(v, dict) else str(v),
                      markup=False, highlight=False)


@app.command()
def status(format: Annotated[Fmt, typer.Option("--format", "-f", help="json or table")] = Fmt.table) -> None:
    """Counts and index freshness."""
    s = _pf().status()
    d = asdict(s) | {"keyword_fresh": s.keyword_fresh, "vectors_fresh": s.vectors_fresh}
    if format is Fmt.json:
        out.print(json.dumps(d, indent=2), markup=False, highlight=False)
        return
    out.print(f"database      {s.db}", markup=False)
    out.print(f"papers        {s.papers}  (listed {s.first_day} … {s.last_day})", markup=False)
    out.print(f"embedded      {s.embedded}/{s.papers}", markup=False)
    kw = "fresh" if s.keyword_fresh else f"behind (at change {s.keyword_seq} of {s.papers_seq})"
    vec = "fresh" if s.vectors_fresh else f"behind (at change {s.vector_seq} of {s.store_seq})"
    out.print(f"keyword index {kw}", markup=False)
    out.print(f"vector index  {vec}, {s.vectors} vectors", markup=False)


# -- serve ----------------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int | None, typer.Option(min=1, max=64, help="Worker processes (default: one per CPU).")]
    = None,
    embed: Annotated[bool, typer.Option("--embed/--no-embed", help="Compute missing embeddings in the background "
                                        "(newest first); also off with PAPERFEED_EMBED_IN_BACKGROUND=0.")] = True,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log", help="Log every request.")] = False,
) -> None:
    """Serve the papers site and its JSON API (docs at /docs).  On an empty database, first ingests
    the comma-separated files or URLs of $PAPERFEED_SOURCES in the background; papers without
    embeddings are embedded in a background process while the site serves (progress on /status)."""
    from paperfeed.cli.serve import serve_site  # start-up, background jobs and the start-up log

    serve_site(_pf(), host=host, port=port, workers=workers, embed=embed, access_log=access_log, err=err)


from paperfeed.cli.digest import digest_app  # noqa: E402  (registers `paperfeed digest ...`)

app.add_typer(digest_app, name="digest")
from paperfeed.cli.backup import register as register_backup  # noqa: E402  (`paperfeed backup|restore`)

register_backup(app)
from paperfeed.cli.admin import admin_app  # noqa: E402  (`paperfeed admin claims|role|ban`)

app.add_typer(admin_app, name="admin")


def main() -> None:
    """Entry point: usage errors exit 2 (Typer), user errors exit 1 with one line, never a traceback."""
    from paperfeed.cli.quiet import quiet_model_loading
    from paperfeed.ingestion.errors import IngestError
    from paperfeed.search.query import QueryError
    from paperfeed.store.engine import UNAVAILABLE, DatabaseUnavailable, describe

    quiet_model_loading()  # before anything imports transformers; inherited by workers and the embedder
    try:
        app()
    except (UserError, IngestError, QueryError) as e:
        err.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)  # one line, however long
        sys.exit(1)
    except UNAVAILABLE as e:  # PostgreSQL down or unreachable (at start: Store.open says which database)
        line = str(e) if isinstance(e, DatabaseUnavailable) else f"the database is unavailable: {describe(e)}"
        err.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
    finally:
        pf = _state.get("pf")
        if pf is not None:
            pf.close()


if __name__ == "__main__":
    main()
