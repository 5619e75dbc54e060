"""A paper as a BibTeX entry: the "Cite" block of a paper's page, `GET /api/papers/{id}/bibtex` and the
CLI's `show --format bibtex` all call `paper_bibtex` (one function, no copies).

The entry follows arXiv's own export (`@misc` with `eprint`, `archivePrefix`, `primaryClass`), or
`@article` with a `doi` when there is no arXiv id.  Titles keep their LaTeX (BibTeX is LaTeX), with a
bare `&`, `%` or `#` escaped, which LaTeX would otherwise read as an alignment tab, comment or parameter;
braces that do not balance are dropped, because BibTeX counts every brace (escaped or not) to find where
a field ends, so one stray `}` would end the entry early.
"""

from __future__ import annotations

import re
import unicodedata

from paperfeed.models import Paper

_BARE = re.compile(r"(?<!\\)([&%#])")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # NUL and friends: no reference manager wants them


def _balanced(value: str) -> str:
    out, depth = [], 0
    for ch in value:
        if ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                continue
            depth -= 1
        out.append(ch)
    s = "".join(out)
    while depth:  # drop the last unclosed `{`s
        i = s.rfind("{")
        s = s[:i] + s[i + 1 :]
        depth -= 1
    return s


def field_value(text: str) -> str:
    """A field's text, safe between BibTeX braces."""
    text = " ".join(_CONTROL.sub("", text).split())
    return _balanced(_BARE.sub(r"\\\1", text))


def _ascii_word(s: str) -> str:
    s = unicodedata.normalize("NFKD", s)
    return re.sub(r"[^a-z0-9]", "", s.encode("ascii", "ignore").decode().lower())


def cite_key(p: Paper) -> str:
    """`zeng2025industrialgrade`: first author's family name, year, first real word of the title."""
    family = _ascii_word(p.authors[0].split()[-1]) if p.authors and p.authors[0].split() else ""
    when = p.published or p.listed
    year = str(when.year) if when else ""
    words = [w for w in (_ascii_word(w) for w in re.sub(r"\\[a-zA-Z]+|\$[^$]*\$", " ", p.title).split())
             if w and w not in {"a", "an", "the", "on", "of", "towards", "toward"}]
    key = f"{family}{year}{words[0] if words else ''}"
    return key or "paper" + _ascii_word(p.id)


def paper_bibtex(p: Paper) -> str:
    """The BibTeX entry for a paper, ending with a newline."""
    when = p.published or p.listed
    fields: list[tuple[str, str]] = [("title", field_value(p.title))]
    if p.authors:
        fields.append(("author", " and ".join(field_value(a) for a in p.authors)))
    if when:
        fields.append(("year", str(when.year)))
    if p.arxiv_id:
        kind = "misc"
        fields += [("eprint", p.arxiv_id), ("archivePrefix", "arXiv")]
        if p.categories:
            fields.append(("primaryClass", field_value(p.categories[0])))
        fields.append(("url", f"https://arxiv.org/abs/{p.arxiv_id}"))
    else:
        kind = "article" if p.doi else "misc"
        url = p.links.get("abs") or p.links.get("doi")
        if url:
            fields.append(("url", field_value(url)))
    if p.doi:
        fields.append(("doi", field_value(p.doi)))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@{kind}{{{cite_key(p)},\n{body}\n}}\n"
