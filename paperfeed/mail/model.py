"""The values that pass between schedule, digest building, rendering and the ledger.

A `Digest` is fully described by its subscriber, its period and its ordered picks, and the picks are
what the ledger stores (`digest_items`), so a digest recorded before a crash is rendered again,
byte for byte the same, by the process that resends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from paperfeed.mail.subscriptions import Subscriber
from paperfeed.models import Paper

SECTION_TITLES = {
    "trending": "Trending papers",
    "searches": "New papers for your saved searches",
    "follows": "New papers from authors and categories you follow",
    "similar": "For you",  # the recommender's picks (stored as `similar`, its old name)
}


@dataclass(frozen=True)
class Period:
    """One digest's period: `key` names it in the ledger (2026-11-24 for a daily digest, 2026-W48 for a
    weekly one); papers listed on days `window_start <= day < window_end` are new in it; it is due at
    `due_at` (naive UTC)."""

    key: str
    window_start: date
    window_end: date
    due_at: datetime


@dataclass(frozen=True)
class Pick:
    paper_pk: int
    paper: Paper
    section: str  # one of SECTION_TITLES
    reason: str  # shown beside the paper, e.g. 'matches your search "diffusion"'


@dataclass(frozen=True)
class Digest:
    subscriber: Subscriber
    period: Period
    picks: tuple[Pick, ...]  # in display order; each paper at most once

    @property
    def empty(self) -> bool:
        return not self.picks

    def sections(self) -> list[tuple[str, list[Pick]]]:
        """(section, picks) in the order of SECTION_TITLES, leaving out empty sections."""
        return [(s, [p for p in self.picks if p.section == s]) for s in SECTION_TITLES
                if any(p.section == s for p in self.picks)]


def message_id(subscriber_id: int, period_key: str, domain: str) -> str:
    """Deterministic Message-ID: a copy resent after a crash carries the same one, so mail systems fold it."""
    return f"<digest.{subscriber_id}.{period_key}@{domain}>"
