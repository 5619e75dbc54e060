"""Signed links in emails: confirm a subscription, manage its preferences, unsubscribe.

No log-in is needed to use them, so the link itself is the credential: an itsdangerous token
binding (purpose, subscriber id), signed with the site secret.  Each purpose has its own salt, so a
preferences token cannot be replayed as a confirmation.  Confirmation links expire (7 days);
preferences and unsubscribe links must keep working in old emails (RFC 8058 asks that one-click
unsubscribe keep working), so they expire only after a year.  A forged, tampered or expired token
raises `BadLink` with a message fit to show the user; it never changes anything.

A confirmation link also carries the subscription's `link_version`, which every unsubscribe and
re-subscribe bumps: it confirms only the state it was issued for, so an old link (say, from a mailbox
someone else can read) cannot re-activate an address after its owner unsubscribed and anyone
re-subscribed it.  Links made before versions existed carry a bare id and count as version 0.

`at=` signs a token as of a given instant instead of now: a digest's links are signed as of the
digest's date, so the same digest renders to the same bytes when it is resent after a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

PURPOSES = {"confirm": 7 * 24 * 3600, "manage": 365 * 24 * 3600, "unsubscribe": 365 * 24 * 3600,
            "dismiss": 365 * 24 * 3600}
PATHS = {"confirm": "/subscription/confirm", "manage": "/subscription", "unsubscribe": "/unsubscribe",
         "dismiss": "/digest/not-interested"}


class BadLink(ValueError):
    """The link is forged, tampered with, meant for something else, or expired."""


@dataclass(frozen=True)
class Links:
    secret: str
    base_url: str = "http://127.0.0.1:8000"

    def _serializer(self, purpose: str, at: datetime | None = None) -> URLSafeTimedSerializer:
        if purpose not in PURPOSES:
            raise ValueError(f"unknown link purpose {purpose!r}")
        if at is None:
            return URLSafeTimedSerializer(self.secret, salt=f"paperfeed.mail.{purpose}")
        stamp = int((at.replace(tzinfo=UTC) if at.tzinfo is None else at).timestamp())

        class _SignedAt(TimestampSigner):
            def get_timestamp(self) -> int:
                return stamp

        return URLSafeTimedSerializer(self.secret, salt=f"paperfeed.mail.{purpose}", signer=_SignedAt)

    def token(self, purpose: str, subscriber_id: int, at: datetime | None = None, version: int | None = None) -> str:
        payload: int | list[int] = int(subscriber_id) if version is None else [int(subscriber_id), int(version)]
        return str(self._serializer(purpose, at).dumps(payload))

    def read(self, purpose: str, token: str | None) -> int:
        """The subscriber id a token was made for, or `BadLink`."""
        return self.read_versioned(purpose, token)[0]

    def read_versioned(self, purpose: str, token: str | None) -> tuple[int, int]:
        """(subscriber id, link version) a token was made for (a bare id is version 0), or `BadLink`."""
        if not token or len(token) > 500:
            raise BadLink("this link is incomplete: copy the whole address from the email")
        try:
            value = self._serializer(purpose).loads(token, max_age=PURPOSES[purpose])
        except SignatureExpired:
            raise BadLink("this link has expired") from None
        except BadSignature:
            raise BadLink("this link is not valid (it may have been changed or cut short)") from None
        if isinstance(value, list) and len(value) == 2:
            sid, version = value
        else:
            sid, version = value, 0
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (sid, version)):
            raise BadLink("this link is not valid")
        return sid, version

    def url(self, purpose: str, subscriber_id: int, at: datetime | None = None, version: int | None = None) -> str:
        token = self.token(purpose, subscriber_id, at, version)
        return f"{self.base_url.rstrip('/')}{PATHS[purpose]}?{urlencode({'t': token})}"

    def confirm_url(self, subscriber_id: int, version: int = 0) -> str:
        return self.url("confirm", subscriber_id, version=version)

    def manage_url(self, subscriber_id: int, at: datetime | None = None) -> str:
        return self.url("manage", subscriber_id, at)

    def unsubscribe_url(self, subscriber_id: int, at: datetime | None = None) -> str:
        return self.url("unsubscribe", subscriber_id, at)

    def dismiss_url(self, subscriber_id: int, paper_pk: int, at: datetime | None = None) -> str:
        """"Not interested" in one personal pick: binds (subscriber, paper) under its own salt."""
        return self.url("dismiss", subscriber_id, at, version=paper_pk)

    def read_dismiss(self, token: str | None) -> tuple[int, int]:
        """(subscriber id, paper pk) of a "not interested" link, or `BadLink`."""
        return self.read_versioned("dismiss", token)
