"""Trending: upvotes with a time decay, as pure functions (no database, no clock).

Each upvote counts for less the older it is, halving every `half-life`:

    score(paper) = sum over its votes v cast within the period of  2 ** (-(now - t_v) / H)

    period   window     half-life H
    day      24 hours   6 hours
    week     7 days     36 hours
    month    30 days    7 days

Why a per-vote half-life rather than Hacker News gravity on the paper's age
(`votes / (age_hours + 2) ** 1.8`): papers here are often read and voted on long after
their listing day (a back-catalogue of years), and gravity on listing age would bury a
paper people are voting for *now*.  Decaying each vote by its own age rewards current
attention, and a vote outside the window counts 0, so the day/week/month views differ.

Order is deterministic: score descending, then newest listing day first, then paper id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

PERIODS: dict[str, tuple[timedelta, float]] = {
    "day": (timedelta(hours=24), 6.0),
    "week": (timedelta(days=7), 36.0),
    "month": (timedelta(days=30), 24.0 * 7),
}


def window(period: str) -> timedelta:
    """How far back votes count for `period` (ValueError for an unknown period)."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}")
    return PERIODS[period][0]


def vote_weight(age_hours: float, half_life_hours: float) -> float:
    """Weight of one vote `age_hours` old: 1 when fresh, halving every half-life; a vote from
    the future (clock skew) counts as fresh, never more."""
    return 2.0 ** (-max(age_hours, 0.0) / half_life_hours)


def trending_scores(votes: Iterable[tuple[int, datetime]], now: datetime, period: str) -> dict[int, float]:
    """Score per paper pk from (paper_pk, vote time) pairs; votes outside the period are ignored."""
    span, half_life = window(period), PERIODS[period][1]
    start = now - span
    scores: dict[int, float] = {}
    for pk, t in votes:
        if t < start:
            continue
        scores[pk] = scores.get(pk, 0.0) + vote_weight((now - t).total_seconds() / 3600.0, half_life)
    return scores


def rank(scores: Mapping[int, float], listed: Mapping[int, date | None], ids: Mapping[int, str]) -> list[int]:
    """Paper pks best first: score desc, then newest listing day, then paper id (so ties never flicker)."""

    def key(pk: int) -> tuple[float, int, str]:
        d = listed.get(pk)
        return (-scores[pk], -(d.toordinal() if d else 0), ids.get(pk, ""))

    return sorted(scores, key=key)
