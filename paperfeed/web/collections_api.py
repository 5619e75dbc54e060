"""Collections in the JSON API (bearer tokens, `web/tokens.py`): list mine, read one, add and remove papers.

`GET /api/collections` needs any valid token; `GET /api/collections/{id}` answers what the site would show
(`store.collections.visible_to`: a token's owner sees their own, anyone a public one, `?token=` opens a
link one; everything else is the same 404 as a missing id).  Adding and removing need a write token and
the collection must be the token owner's (404 otherwise: no probing other members' ids).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from paperfeed.store import collections as coll
from paperfeed.store.accounts import User
from paperfeed.web.api import PaperOut, error_responses, paper_out
from paperfeed.web.collections import Token
from paperfeed.web.context import web
from paperfeed.web.tokens import _bearer, _limit, token_user, writer

router = APIRouter(prefix="/api", tags=["collections"])


class CollectionOut(BaseModel):
    id: int
    name: str
    visibility: str
    size: int
    created_at: dt.datetime
    url: str


class CollectionPapers(CollectionOut):
    papers: list[PaperOut]


class ItemIn(BaseModel):
    paper_id: str = Field(min_length=1, max_length=256, description="a paper id or arXiv id")


class ItemOut(BaseModel):
    collection: int
    paper_id: str
    saved: bool  # in the collection now
    changed: bool  # false when it already was (add) or was not (delete)


def _out(c: coll.Collection) -> dict:
    return {"id": c.id, "name": c.name, "visibility": c.visibility, "size": c.size, "created_at": c.created_at,
            "url": f"/collections/{c.id}"}


def _reader(request: Request,
            cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> User | None:
    """The token's owner when a token is sent (401 if it is bad), else an anonymous reader."""
    return token_user(request, cred) if cred is not None else None


def _mine(request: Request, cid: int, user: User) -> coll.Collection:
    c = coll.get(web(request).pf.store, cid)
    if c is None or c.user_id != user.id:
        raise HTTPException(404, "no such collection")
    return c


@router.get("/collections", response_model=list[CollectionOut], summary="Your collections",
            responses=error_responses(401))
def api_collections(request: Request, user: Annotated[User, Depends(token_user)]) -> list[dict]:
    return [_out(c) for c in coll.of_user(web(request).pf.store, user.id)]


@router.get("/collections/{cid}", response_model=CollectionPapers, summary="One collection and its papers",
            responses=error_responses(401, 404))
def api_collection(request: Request, cid: int, reader: Annotated[User | None, Depends(_reader)],
                   token: Token = None) -> dict:
    w = web(request)
    c = coll.get(w.pf.store, cid)
    if not coll.visible_to(c, reader.id if reader else None, token):
        raise HTTPException(404, "no such collection")
    assert c is not None
    pks = coll.items(w.pf.store, c.id)
    found = w.pf.store.get_many(pks)
    entries = w.entries([(pk, found[pk]) for pk in pks if pk in found], None)
    return {**_out(c), "papers": [paper_out(e.paper, e) for e in entries]}


@router.post("/collections/{cid}/items", response_model=ItemOut, summary="Save a paper into your collection",
             responses=error_responses(400, 401, 403, 404, 429))
def api_add(request: Request, cid: int, body: ItemIn, user: Annotated[User, Depends(writer)],
            response: Response) -> dict:
    _limit(request, "collection")
    c = _mine(request, cid, user)
    store = web(request).pf.store
    pk = store.pk_of(body.paper_id)
    if pk is None:
        raise HTTPException(404, f"no paper with id {body.paper_id[:100]!r}")
    changed = coll.add(store, c.id, pk)
    response.status_code = 201 if changed else 200
    return {"collection": c.id, "paper_id": store.ids_of([pk])[pk], "saved": True, "changed": changed}


@router.delete("/collections/{cid}/items/{paper_id:path}", response_model=ItemOut,
               summary="Remove a paper from your collection", responses=error_responses(400, 401, 403, 404, 429))
def api_remove(request: Request, cid: int, paper_id: str, user: Annotated[User, Depends(writer)]) -> dict:
    _limit(request, "collection")
    c = _mine(request, cid, user)
    store = web(request).pf.store
    pk = store.pk_of(paper_id) if len(paper_id) <= 256 else None
    if pk is None:
        raise HTTPException(404, f"no paper with id {paper_id[:100]!r}")
    return {"collection": c.id, "paper_id": store.ids_of([pk])[pk], "saved": False,
            "changed": coll.remove(store, c.id, pk)}
