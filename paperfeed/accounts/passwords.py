"""Passwords as NIST SP 800-63B (rev. 4, 2024) asks: length, a blocklist, no composition rules.

- Minimum 15 characters by default (`WebSettings.min_password_chars`): 800-63B-4 §3.1.1.2 requires 15 for
  a password that is the only factor, which it is here (8 is its floor only beside a second factor).
- Maximum 256 characters (it asks for at least 64), counted after Unicode NFKC normalisation, which is
  also what is hashed, so "ﬁ" and "fi" are one password however a keyboard produced them.
- Any character is allowed, spaces included; no "one digit, one symbol" rules (they make passwords
  worse, 800-63B says); no truncation.
- Refused: the 30,000 most common passwords of the `zxcvbn` package's frequency list (shipped inside
  the package, read locally, no download), compared without case, and the account's own email address.
- Hashing is argon2id (argon2-cffi defaults); a log-in for an unknown account still verifies against a
  dummy hash, so its timing does not reveal whether the account exists.
"""

from __future__ import annotations

import unicodedata
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_CHARS = 15
MAX_CHARS = 256

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("paperfeed-dummy-password")


def normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


@cache
def common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(p.casefold() for p in FREQUENCY_LISTS["passwords"])


def password_problem(password: str, email: str = "", min_chars: int = MIN_CHARS) -> str | None:
    """What is wrong with a new password, in a sentence to show, or None when it may be used."""
    p = normalise(password)
    if len(p) < min_chars:
        return f"Choose a password of at least {min_chars} characters (a few words make a good one)."
    if len(p) > MAX_CHARS:
        return f"Choose a password of at most {MAX_CHARS} characters."
    if p.casefold() in common_passwords():
        return "This password is one of the most common ones, which attackers try first; choose another."
    e = email.strip().casefold()
    if e and (p.casefold() == e or p.casefold() == e.partition("@")[0]):
        return "Do not use your email address as your password."
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(normalise(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; with no hash (unknown account) burn the same time and say no.
    Hashes made before passwords were normalised also match the text as typed."""
    for candidate in dict.fromkeys((normalise(password), password)):
        try:
            if _hasher.verify(password_hash or _DUMMY_HASH, candidate) and password_hash is not None:
                return True
        except (VerificationError, InvalidHashError):
            pass
    return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
