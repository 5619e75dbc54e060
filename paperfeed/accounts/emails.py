"""Email addresses, checked by `email-validator` (syntax only, offline: no DNS lookups).

One rule for every place an address is taken (sign-up, `/subscribe`, `paperfeed digest subscribe`), so
`a@b.c\x00` or an address with a space or a bracketed IP is refused everywhere with the library's reason.
The stored form is the validator's normalised address (Unicode NFC, IDNA domain) in lower case, since
addresses here are compared without case.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


class BadAddress(ValueError):
    """Not an email address; the message says why, fit to show."""


def checked_address(email: str) -> str:
    """The normalised, lower-case address, or `BadAddress`."""
    text = email.strip()
    if not text:
        raise BadAddress("enter an email address")
    try:
        info = validate_email(text, check_deliverability=False)
    except EmailNotValidError as e:
        raise BadAddress(f"{text[:80]!r} is not a valid email address ({e})") from None
    return info.normalized.lower()
