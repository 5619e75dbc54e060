"""Which follow a reason names, so a reader can act on it ("unfollow Yann LeCun").

The reason is text made by `reasons.explain`; its follow phrases are made here from the same
templates (`FOLLOW_PHRASES`) and compared whole, so a reason is tied to a follow only when it is
exactly that follow's sentence (a title that happens to contain "whom you follow" never matches).
"""

from __future__ import annotations

from collections.abc import Sequence

FOLLOW_PHRASES = {
    "author": "by {}, whom you follow",
    "search": "matches your search \u201c{}\u201d",
    "category": "new in {}, which you follow",
}


def follow_of_reason(reason: str, follows: Sequence[tuple[str, str]]) -> tuple[str, str] | None:
    """The (kind, value) among the reader's follows whose sentence `reason` is, or None."""
    for kind, value in follows:
        phrase = FOLLOW_PHRASES.get(kind)
        if phrase is not None and reason == phrase.format(value):
            return kind, value
    return None
