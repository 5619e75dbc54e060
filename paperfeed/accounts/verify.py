"""Verifying a new account's address by an emailed, signed link, and the sign-up emails.

Sign-up answers the same "check your inbox" page whether or not the address has an account; what
differs is only what its owner receives: a new or still-unverified account gets a verification
link, a verified one a note that it already has an account.  The link is an itsdangerous token
(its own salt) binding the account id to a fingerprint of the password hash it was issued for, and
lasts 2 days.  Signing up again for an unverified address sets the new password and so voids every
earlier link: whoever typed the last password, only the mailbox's owner can finish, and an account
someone pre-registered with another person's address is taken over by that person's own sign-up.
Until verified an account cannot log in, so it cannot vote or submit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import urlencode

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from paperfeed.mail.confirm_mail import short_message
from paperfeed.mail.settings import MailSettings
from paperfeed.store.accounts import User

VERIFY_SECONDS = 2 * 24 * 3600
VERIFY_PATH = "/verify"


class BadVerifyLink(ValueError):
    """Forged, altered, expired, or issued before a later sign-up changed the password."""


def fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class VerifyLinks:
    secret: str
    base_url: str = ""

    def _s(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret, salt="paperfeed.accounts.verify")

    def token(self, user: User) -> str:
        return str(self._s().dumps([user.id, fingerprint(user.password_hash)]))

    def url(self, user: User) -> str:
        return f"{self.base_url.rstrip('/')}{VERIFY_PATH}?{urlencode({'t': self.token(user)})}"

    def read(self, token: str | None) -> tuple[int, str]:
        """(user id, password fingerprint) of a valid token, or `BadVerifyLink`."""
        if not token or len(token) > 500:
            raise BadVerifyLink("this link is incomplete: copy the whole address from the email")
        try:
            value = self._s().loads(token, max_age=VERIFY_SECONDS)
        except SignatureExpired:
            raise BadVerifyLink("this link has expired; sign up again to get a new one") from None
        except BadSignature:
            raise BadVerifyLink("this link is not valid (it may have been changed or cut short)") from None
        if (not isinstance(value, list) or len(value) != 2 or not isinstance(value[0], int)
                or isinstance(value[0], bool) or not isinstance(value[1], str)):
            raise BadVerifyLink("this link is not valid")
        return value[0], value[1]


def verification_message(user: User, settings: MailSettings, links: VerifyLinks) -> EmailMessage:
    return short_message(user.email, settings, "Confirm your paperfeed account", [
        f"Someone (hopefully you) signed up to paperfeed with {user.email}.",
        "Open the link below to confirm the address, then log in. The link works for 2 days; "
        "if you did not sign up, ignore this message and no account will be usable.",
    ], ("Confirm my address", links.url(user)))


def already_registered_message(email: str, settings: MailSettings) -> EmailMessage:
    login = f"{settings.base_url.rstrip('/')}/login"
    return short_message(email, settings, "Your paperfeed account", [
        f"Someone (hopefully you) tried to sign up to paperfeed with {email}, which already has an account. "
        "Nothing was changed.",
        "If it was you, log in with your password.",
    ], ("Log in", login))
