"""`paperfeed backup FILE` and `paperfeed restore FILE [--force]` (the SQL is in `paperfeed.store.backup`).

A backup is taken while the site serves and writes (SQLite's online backup API); a restore writes the
backup into the configured database, refusing one that holds data unless `--force`, and then rebuilds
the derived indexes from it (they are not in the backup: they are derived data).  Restore while the
site is stopped: a running server would keep serving its old indexes until it restarts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from paperfeed.cli.common import UserError

err = Console(stderr=True, soft_wrap=True)


def _db(ctx: typer.Context) -> Path:
    """The configured SQLite file (`--db`, else $PAPERFEED_DB, else the default), from the CLI's settings."""
    from paperfeed.cli.common import settings

    location = settings().location
    if not location.is_sqlite:
        raise UserError(f"backup and restore work on a SQLite database, not {location.display}; "
                        "back PostgreSQL up with its own tools (pg_dump, pg_restore)")
    return location.sqlite_path


def backup_cmd(ctx: typer.Context, file: Annotated[Path, typer.Argument(help="Where to write the backup.")]) -> None:
    """Write a consistent copy of the database to FILE, even while the site serves and writes."""
    from paperfeed.store.backup import BackupError, backup

    try:
        rep = backup(_db(ctx), file)
    except BackupError as e:
        raise UserError(str(e)) from None
    err.print(f"backed up {rep.rows.get('papers', 0)} papers, {rep.rows.get('users', 0)} accounts, "
              f"{rep.rows.get('votes', 0)} votes to {rep.path} ({rep.bytes / 1e6:.1f} MB)", markup=False)


def restore_cmd(ctx: typer.Context, file: Annotated[Path, typer.Argument(help="A file written by `backup`.")],
                force: Annotated[bool, typer.Option(help="Replace a database that holds data.")] = False) -> None:
    """Restore the database from a backup FILE, then rebuild the keyword and vector indexes from it."""
    from paperfeed.store.backup import BackupError, restore

    db = _db(ctx)
    try:
        rep = restore(file, db, force=force)
    except BackupError as e:
        raise UserError(str(e)) from None
    from paperfeed.cli.common import open_core

    pf = open_core(db)  # brings an older backup's schema up to date
    try:
        pf.refresh_keyword_index(rebuild=True)
        pf.refresh_vector_index(rebuild=True)
        s = pf.status()
    finally:
        pf.close()
    err.print(f"restored {s.papers} papers ({s.embedded} embedded), {rep.rows.get('users', 0)} accounts, "
              f"{rep.rows.get('votes', 0)} votes into {db}; indexes rebuilt", markup=False)


def register(app: typer.Typer) -> None:
    app.command("backup")(backup_cmd)
    app.command("restore")(restore_cmd)
