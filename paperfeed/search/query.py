"""The search query language, parsed once into a backend-independent form.

    diffusion "parameter count" transform*  -survey  author:"Yann LeCun"  cat:cs.CL
    since:2025-06-01 until:2025-12-31  title:segmentation

Words are ANDed for the literal block; `"..."` is a phrase; a trailing `*` a prefix;
a leading `-` excludes; `author:`, `title:`, `abstract:` restrict a word or phrase to a
field; `cat:` and `since:`/`until:` are filters that apply to every result, literal or
semantic.  Any malformed query raises `QueryError` with a message fit to show a user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

MAX_QUERY_CHARS = 1000
MAX_CLAUSES = 64
TEXT_FIELDS = ("title", "abstract", "author")
FILTER_FIELDS = ("cat", "since", "until")
_TOKEN = re.compile(r'(-?)(?:([A-Za-z]+):)?("([^"]*)"?|[^\s"]+)')
_BARE_FIELD = re.compile(r"([A-Za-z]+):")
_FIELD_NAMES = {*TEXT_FIELDS, *FILTER_FIELDS, "authors", "category"}
_EXAMPLES = {"title": "benchmark", "abstract": "diffusion", "author": '"Yann LeCun"', "authors": '"Yann LeCun"',
             "cat": "cs.CL", "category": "cs.CL", "since": "2025-06-01", "until": "2025-12"}


_NEW_ID = r"\d{4}\.\d{4,5}"
_OLD_ID = r"[a-z][a-z-]*(?:\.[A-Z]{2})?/\d{7}"
ARXIV_REF = re.compile(
    rf"(?:(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/|arxiv:)?"
    rf"({_NEW_ID}|{_OLD_ID})(?:v\d+)?(?:\.pdf)?/?", re.IGNORECASE)

def arxiv_ref(text: str) -> str | None:
    """The arXiv id a whole query names (`2503.11731`, `arXiv:2503.11731v2`, an abs/pdf URL), else None."""
    m = ARXIV_REF.fullmatch(text.strip())
    if not m:
        return None
    ident = m.group(1)
    return ident if "/" not in ident else ident.split("/")[0].lower() + "/" + ident.split("/")[1]



class QueryError(ValueError):
    """A query the user must fix; the message says what and where."""


@dataclass(frozen=True)
class Clause:
    kind: str  # "term" | "phrase" | "prefix"
    text: str
    field: str | None = None  # None = title, abstract and authors
    negated: bool = False


@dataclass
class Query:
    clauses: list[Clause] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    since: date | None = None
    until: date | None = None
    paper_ref: str | None = None  # the arXiv id the whole query names (an id or an arXiv URL)

    @property
    def positive(self) -> list[Clause]:
        return [c for c in self.clauses if not c.negated]

    @property
    def negative(self) -> list[Clause]:
        return [c for c in self.clauses if c.negated]

    @property
    def free_text(self) -> str:
        """The words a person typed, without operators: what the semantic side embeds."""
        return " ".join(c.text for c in self.positive if c.field in (None, "title", "abstract"))

    @property
    def has_text(self) -> bool:
        return bool(self.positive)


def _parse_date(value: str, what: str) -> date:
    try:
        if re.fullmatch(r"\d{4}", value):
            return date(int(value), 1, 1) if what == "since" else date(int(value), 12, 31)
        if re.fullmatch(r"\d{4}-\d{2}", value):
            y, m = map(int, value.split("-"))
            if what == "since":
                return date(y, m, 1)
            nxt = date(y + (m == 12), m % 12 + 1, 1)
            return date.fromordinal(nxt.toordinal() - 1)
        return date.fromisoformat(value)
    except ValueError:
        raise QueryError(f"{what}: expects a date like 2025-06-01, 2025-06 or 2025, not {value!r}") from None


def parse_query(
    text: str,
    *,
    since: date | None = None,
    until: date | None = None,
    categories: list[str] | None = None,
) -> Query:
    """Parse user text plus filters given as options (CLI flags, URL parameters)."""
    if not isinstance(text, str):
        raise QueryError("query must be text")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"query is too long ({len(text)} characters; the limit is {MAX_QUERY_CHARS})")
    text = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    if text.count('"') % 2:
        raise QueryError(f'unbalanced quote at character {text.rfind(chr(34)) + 1}: close the phrase with "')
    q = Query(categories=[c.strip() for c in categories or [] if c.strip()], since=since, until=until)
    ref = arxiv_ref(text)
    if ref is not None:  # an id or URL: that paper (first), then papers holding the id's digits
        q.paper_ref = ref
        q.clauses.append(Clause("term", ref))
        return q
    for m in _TOKEN.finditer(text):
        neg, fld, raw, phrase = m.group(1) == "-", m.group(2), m.group(3), m.group(4)
        bare = _BARE_FIELD.fullmatch(raw) if fld is None else None
        if bare and bare.group(1).lower() in _FIELD_NAMES:  # `title:` then a space or the end, not the word
            name = bare.group(1).lower()
            raise QueryError(f"{name}: at character {m.start() + 1} needs a value right after the colon "
                             f"(e.g. {name}:{_EXAMPLES.get(name, 'word')})")
        if fld is not None and phrase is not None and not phrase.strip():
            raise QueryError(f'{fld.lower()}:"" at character {m.start() + 1} is empty: put words inside the quotes')
        if fld is not None:
            fld = fld.lower()
            if fld == "authors":
                fld = "author"
            if fld == "category":
                fld = "cat"
            if fld not in TEXT_FIELDS + FILTER_FIELDS:
                known = ", ".join(f"{f}:" for f in TEXT_FIELDS + FILTER_FIELDS)
                raise QueryError(f"unknown field {fld + ':'!r} at character {m.start() + 1} (known: {known})")
        value = (phrase if phrase is not None else raw).strip()
        if fld in FILTER_FIELDS:
            if neg:
                raise QueryError(f"-{fld}: cannot be negated")
            if not value:
                raise QueryError(f"{fld}: needs a value")
            if fld == "cat":
                q.categories.append(value)
            elif fld == "since":
                q.since = _parse_date(value, "since")
            else:
                q.until = _parse_date(value, "until")
            continue
        if phrase is not None:
            words = phrase.split()
            if not words:
                continue
            q.clauses.append(Clause("phrase" if len(words) > 1 else "term", " ".join(words), fld, neg))
            continue
        word = raw.strip("-")
        if not word or not any(ch.isalnum() for ch in word):
            continue  # lone punctuation carries no meaning
        if word.endswith("*"):
            stem = word.rstrip("*")
            if len(stem) < 2 or not any(ch.isalnum() for ch in stem):
                raise QueryError(f"prefix {word!r} is too short: give at least 2 characters before *")
            q.clauses.append(Clause("prefix", stem, fld, neg))
        else:
            q.clauses.append(Clause("term", word, fld, neg))
    if len(q.clauses) > MAX_CLAUSES:
        raise QueryError(f"too many terms ({len(q.clauses)}; the limit is {MAX_CLAUSES})")
    if q.clauses and not q.positive:
        raise QueryError("a query of only exclusions matches nothing: add a word to search for")
    if not q.clauses and not (q.categories or q.since or q.until):
        raise QueryError("empty query: type some words to search for")
    if q.since and q.until and q.since > q.until:
        raise QueryError(f"since ({q.since}) is after until ({q.until})")
    return q
