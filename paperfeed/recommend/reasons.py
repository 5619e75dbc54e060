"""Why a paper was picked, in words a reader can act on.

Order of precedence: an explicit follow (author, then saved search, then category) beats similarity,
because it is what the reader asked for.  Otherwise the reason names the liked paper the candidate is
closest to (embedding cosine + tf-idf cosine, the two similarities the score uses), or, when three or
more papers of one collection are close to it, the collection ("like 3 papers in Reading group").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from paperfeed.recommend.features import PaperFeatures
from paperfeed.recommend.signals import Like

NEAR = 0.5  # embedding cosine at which a liked paper counts as "like" the candidate (MiniLM: same topic)
COLLECTION_MIN = 3


def short(title: str, n: int = 90) -> str:
    title = " ".join(title.split())
    return title if len(title) <= n else title[: n - 1].rstrip() + "\u2026"


def explain(j: int, likes: Sequence[Like], emb: np.ndarray | None, tf: np.ndarray | None,
            follows: Sequence[tuple[str, str]], pf: PaperFeatures) -> tuple[str, str | None]:
    """(reason, id of the liked paper it names) for candidate position j."""
    for kind in ("author", "search", "category"):
        what = [w for k, w in follows if k == kind]
        if what:
            if kind == "author":
                return f"by {what[0]}, whom you follow", None
            if kind == "search":
                return f"matches your search \u201c{what[0]}\u201d", None
            return f"new in {what[0]}, which you follow", None
    if emb is None or tf is None or not likes:
        return "new in a field you follow", None
    near = [likes[i].collection for i in np.flatnonzero(emb[j] >= NEAR) if likes[i].collection]
    if near:
        name, n = sorted(Counter(near).items(), key=lambda kv: (-kv[1], kv[0]))[0]
        if n >= COLLECTION_MIN:
            return f"like {n} papers in {name}", None
    best = int(np.argmax(emb[j] + tf[j]))
    like = likes[best]
    title = short(pf.titles[pf.index[like.paper_id]])
    verb = "saved" if like.kind == "saved" else "upvoted"
    return f"because you {verb} \u201c{title}\u201d", like.paper_id
