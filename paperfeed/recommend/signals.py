"""What a reader has told us, as plain values: the store supplies them, the ranker reads them.

No SQL here and no I/O: `paperfeed/recommend/` is pure functions over these signals and the corpus
features (`features.py`), so the site, the API, the feeds and the mailer all get the same ranking.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

LikeKind = Literal["upvoted", "saved"]


@dataclass(frozen=True)
class Like:
    """A paper the reader upvoted or saved (into `collection`, when saved)."""

    paper_id: str
    kind: LikeKind = "upvoted"
    collection: str | None = None


@dataclass(frozen=True)
class Signals:
    """One reader's signals.

    liked: oldest first (the ranker keeps the newest MAX_LIKES).
    dismissed: papers marked "not interested"; they are never picked and pull similar papers down.
    followed_authors: names as the reader typed them (compared folded: case, accents, punctuation).
    followed_categories: "cs.CL", or a prefix "cs.*".
    search_matches: saved search -> the candidate ids it matches; the caller runs the search (the query
        language lives in `paperfeed/search/`), the ranker only weighs the matches and names the search.
    exclude: papers that must not come back (already shown in a digest, opened, ...).
    """

    liked: tuple[Like, ...] = ()
    dismissed: tuple[str, ...] = ()
    followed_authors: tuple[str, ...] = ()
    followed_categories: tuple[str, ...] = ()
    search_matches: Mapping[str, frozenset[str]] = field(default_factory=dict)
    exclude: frozenset[str] = frozenset()

    @property
    def is_empty(self) -> bool:
        return not (self.liked or self.followed_authors or self.followed_categories or self.search_matches)
