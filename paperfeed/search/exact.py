"""The paper a query names: an arXiv id or URL, its exact title, or its title misspelt.

Someone who pastes `https://arxiv.org/abs/2503.11731v2`, `hep-th/9901001` or a paper's title wants
that paper, first, whatever the mode (issue 10 §2).  `parse_query` recognises an id or URL (a URL would
otherwise read as an unknown `https:` field) and records it as `Query.paper_ref`; the engine then puts
the papers found here in an "exact" block before the phrase block.

Titles are compared case- and punctuation-folded.  A misspelt title is found with tantivy's fuzzy
term queries on the title field (edit distance 2 on each analysed word) and accepted only when every
query word is within two edits of a word of the title and the title has at most two words more, so a
short topical query ("graph neural networks") never hijacks the first place.
"""

from __future__ import annotations

import re
import unicodedata

from tantivy import Occur, Query

from paperfeed.search.lexical import ANALYZERS, LexicalIndex
from paperfeed.search.query import arxiv_ref

__all__ = ["arxiv_ref", "fold", "title_candidates", "title_match"]

FUZZY_MIN_WORDS = 3  # shorter queries are topics, not titles
FUZZY_CANDIDATES = 10


def fold(text: str) -> str:
    """Lower case, accents and punctuation dropped, spaces collapsed: "BERT: Pre-training" ~ "bert pre training"."""
    t = unicodedata.normalize("NFKD", text)
    t = "".join(ch for ch in t if not unicodedata.combining(ch)).lower()
    return " ".join(re.sub(r"[\W_]+", " ", t).split())


def _edits(a: str, b: str, cap: int = 3) -> int:
    """Levenshtein distance (stopping early once above `cap`)."""
    if abs(len(a) - len(b)) > cap:
        return cap + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > cap:
            return cap + 1
        prev = cur
    return prev[-1]


def title_candidates(lx: LexicalIndex, text: str) -> list[int]:
    """Papers whose title may be `text`: an exact title phrase, then fuzzy matches of its words."""
    toks = ANALYZERS["en"].analyze(text)
    if not toks:
        return []
    schema = lx.schema
    phrase = (Query.phrase_query(schema, "title", toks) if len(toks) > 1
              else Query.term_query(schema, "title", toks[0]))
    out = [h.pk for h in lx.search(phrase, FUZZY_CANDIDATES)]
    if len(fold(text).split()) >= FUZZY_MIN_WORDS:
        fuzzy = Query.boolean_query([(Occur.Should, Query.fuzzy_term_query(schema, "title", t, distance=2 if len(t) > 4
                                                                           else 1)) for t in dict.fromkeys(toks)])
        out += [h.pk for h in lx.search(fuzzy, FUZZY_CANDIDATES) if h.pk not in out]
    return out


def title_match(query_text: str, title: str) -> int:
    """0: the same title (folded); 1: a misspelling of it (see module docstring); -1: no match."""
    q, t = fold(query_text), fold(title)
    if not q:
        return -1
    if q == t:
        return 0
    qw, tw = q.split(), t.split()
    if len(qw) < FUZZY_MIN_WORDS or len(tw) > len(qw) + 2 or len(tw) < len(qw):
        return -1
    if all(any(_edits(w, x, 2) <= (2 if len(w) > 4 else 1) for x in tw) for w in qw):
        return 1
    return -1
