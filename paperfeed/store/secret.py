"""The site's signing secret, shared by session cookies and the signed links in emails.

The configured one (`PAPERFEED_SECRET`, as `Settings.secret`) when there is one; otherwise one is
generated on first use and kept in the store's kv table, so sessions and emailed links survive a
restart and no secret ever lives in the repository.
"""

from __future__ import annotations

import secrets

from paperfeed.store.papers import Store

_SECRET_KEY = "web_session_secret"  # the kv key predates the mail links; kept so existing sessions stay valid


def site_secret(store: Store, configured: str | None = None) -> str:
    if configured:
        return configured
    state = store.get_state(_SECRET_KEY)
    if state is None:
        store.set_state(_SECRET_KEY, {"secret": secrets.token_urlsafe(48)})
        state = store.get_state(_SECRET_KEY)
    assert state is not None
    return str(state["secret"])
