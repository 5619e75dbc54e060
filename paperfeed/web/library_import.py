"""`/import`: a member brings their library (BibTeX / RIS / CSV file, or pasted arXiv ids and links).

The work is `ingestion/library.import_library` (parse all, then ingest, then save into a collection);
this page only reads the form, and answers a malformed file with a 400 that names the line or entry
(nothing written).  The body limit of this one route is `BODY_LIMITS["library_import"]` (2 MiB,
web/limits.py): a bigger upload is a 413 before anything is read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from paperfeed.ingestion.library import DEFAULT_COLLECTION, FORMATS, LibraryError, decode, guess_format, import_library
from paperfeed.store.accounts import User
from paperfeed.web.accounts import NO_STORE, _guard, _need_login
from paperfeed.web.context import current_user, render, web
from paperfeed.web.limits import BODY_LIMITS

router = APIRouter(include_in_schema=False)


def _page(request: Request, user: User, status_code: int = 200, keep: dict[str, object] | None = None,
          **ctx: object) -> HTMLResponse:
    base: dict[str, object] = {"error": None, "result": None, "ids": "", "name": DEFAULT_COLLECTION, "fmt": "auto"}
    page = render(request, "import.html", status_code=status_code, formats=FORMATS,
                  limit_mb=BODY_LIMITS["library_import"] / (1024 * 1024), title="Import your library · paperfeed",
                  **{**base, **(keep or {}), **ctx})
    page.headers.update(NO_STORE)
    return page


@router.get("/import", response_class=HTMLResponse)
def import_form(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        return _need_login(request, "/import")
    return _page(request, user)


@router.post("/import", response_class=HTMLResponse)
async def import_upload(request: Request, file: Annotated[UploadFile | None, File()] = None,
                        ids: Annotated[str, Form(max_length=200_000)] = "",
                        fmt: Annotated[str, Form(max_length=10)] = "auto",
                        name: Annotated[str, Form(max_length=400)] = DEFAULT_COLLECTION,
                        csrf_token: Annotated[str | None, Form()] = None) -> Response:
    if (blocked := _guard(request, csrf_token, "library_import")) is not None:
        return blocked
    user = current_user(request)
    if user is None:
        return _need_login(request, "/import")
    data = await file.read() if file is not None and file.filename else b""
    source = ((file.filename if file is not None else None) or "upload") if data else "pasted list"
    keep: dict[str, object] = {"ids": ids, "name": name, "fmt": fmt}
    if not data and not ids.strip():
        return _page(request, user, 400, error="Choose a file or paste arXiv ids.", keep=keep)
    if fmt != "auto" and fmt not in FORMATS:
        return _page(request, user, 400, error=f"format must be one of auto, {', '.join(FORMATS)}", keep=keep)
    w = web(request)

    def run() -> Response:
        try:
            text = decode(data, source) if data else ids
            kind = fmt if fmt != "auto" else guess_format(source if data else "", text)
            result = import_library(w.pf.store, user.id, text, kind, name, source)
        except LibraryError as e:
            return _page(request, user, 400, error=str(e), keep=keep)
        return _page(request, user, result=result, keep=keep)

    return await run_in_threadpool(run)
