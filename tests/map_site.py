"""The site the map and onboarding tests serve: the web tests' 301 papers (tests/conftest.make_site_pf) with
their real MiniLM vectors from the shared file (tests/shared_vectors.py), so the map is built from real
embeddings without running the model."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
from account_helpers import log_in, verified_member
from conftest import make_site_pf
from shared_vectors import put_shared_embeddings

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ROOMY = {k: (10_000, 100.0) for k in ("signup", "login", "upvote", "submit")}


def make_map_pf(directory: Path, embed: int | None = None):  # type: ignore[no-untyped-def]
    """The site store, the first `embed` papers (all when None) given their shared vectors."""
    pf = make_site_pf(directory)
    ids = [p.id for chunk in pf.store.iter_changed(-1) for _, _, p in chunk]
    assert put_shared_embeddings(pf, ids[:embed] if embed else ids) >= (embed or 300)
    return pf


def member(pf, base: str, email: str) -> tuple[httpx.Client, int]:  # type: ignore[no-untyped-def]
    """A logged-in client of a new verified member, and the member's id."""
    user = verified_member(pf.store, email)
    c = httpx.Client(base_url=base, timeout=60)
    assert log_in(c, email).status_code == 303
    return c, user.id


def token(c: httpx.Client, page: str = "/onboarding") -> str:
    m = CSRF.search(c.get(page).text)
    assert m, page
    return m.group(1)


def wait_for(check, what: str, timeout: float = 120.0):  # type: ignore[no-untyped-def]
    """Poll `check()` until it returns something truthy (a background build); fail with `what` if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)
