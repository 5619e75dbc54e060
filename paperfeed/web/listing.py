"""The daily list: which papers belong to a day, an ISO week or a month, and the way around it.

A paper is on a day's list when it was listed that day (arXiv's announcement) or when a member
submitted it to that day.  Views are ordered newest listing first, then newest publication,
then id, so a page never reshuffles between two requests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from paperfeed.models import Paper
from paperfeed.store import listings
from paperfeed.store.papers import Store


class PeriodError(ValueError):
    """A date/week/month parameter the visitor must fix (shown as a 400)."""


@dataclass(frozen=True)
class Period:
    kind: str  # "day" | "week" | "month"
    start: date
    end: date  # inclusive

    @property
    def param(self) -> tuple[str, str]:
        """The URL parameter that names this period (`date=…`, `week=…`, `month=…`)."""
        if self.kind == "day":
            return "date", self.start.isoformat()
        if self.kind == "week":
            y, w, _ = self.start.isocalendar()
            return "week", f"{y}-W{w:02d}"
        return "month", f"{self.start.year}-{self.start.month:02d}"

    @property
    def label(self) -> str:
        if self.kind == "day":
            return self.start.strftime("%A %-d %B %Y")
        if self.kind == "week":
            return f"Week {self.param[1]} ({self.start:%-d %b} – {self.end:%-d %b %Y})"
        return self.start.strftime("%B %Y")

    def shifted(self, step: int) -> Period:
        """The previous (-1) or next (+1) period of the same kind, by the calendar."""
        if self.kind == "day":
            d = self.start + timedelta(days=step)
            return Period("day", d, d)
        if self.kind == "week":
            s = self.start + timedelta(weeks=step)
            return Period("week", s, s + timedelta(days=6))
        y, m = divmod(self.start.year * 12 + self.start.month - 1 + step, 12)
        return month_period(y, m + 1)


def month_period(year: int, month: int) -> Period:
    start = date(year, month, 1)
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return Period("month", start, nxt - timedelta(days=1))


def parse_period(day: str | None, week: str | None, month: str | None, default: date) -> Period:
    """At most one of `date=YYYY-MM-DD`, `week=YYYY-Www`, `month=YYYY-MM`; none means `default`'s day."""
    given = [(k, v) for k, v in (("date", day), ("week", week), ("month", month)) if v not in (None, "")]
    if len(given) > 1:
        raise PeriodError("give only one of date, week and month")
    if not given:
        return Period("day", default, default)
    kind, value = given[0]
    value = value.strip()
    try:
        period = _parse_one(kind, value)
        for step in (-1, 1):  # pages link to both neighbours: 0001-W01 or 9999-12-31 would raise there, a 500
            period.shifted(step)
        return period
    except (ValueError, OverflowError):
        example = {"date": "2026-03-14", "week": "2026-W11", "month": "2026-03"}[kind]
        raise PeriodError(f"{kind} expects a value like {example}, not {value[:40]!r}") from None


def _parse_one(kind: str, value: str) -> Period:
    if kind == "date":
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        d = date.fromisoformat(value)
        return Period("day", d, d)
    if kind == "week":
        m = re.fullmatch(r"(\d{4})-W(\d{2})", value)
        if not m:
            raise ValueError
        s = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        return Period("week", s, s + timedelta(days=6))
    m = re.fullmatch(r"(\d{4})-(\d{2})", value)
    if not m:
        raise ValueError
    return month_period(int(m.group(1)), int(m.group(2)))


ARXIV_FIRST_DAY = date(1991, 8, 14)  # arXiv's first day: no list can be older


def submission_day_problem(day: date, today: date | None = None) -> str | None:
    """Why `day` cannot take submissions, or None.  A day's list exists from arXiv's first day to
    tomorrow (UTC; a submitter ahead of UTC may already be on it): anything else would make a list
    that no page can show."""
    today = today or datetime.now(UTC).date()
    if not ARXIV_FIRST_DAY <= day <= today + timedelta(days=1):
        return f"day {day.isoformat()} has no list: give a day from {ARXIV_FIRST_DAY.isoformat()} to tomorrow"
    return None


def latest_day(store: Store) -> date:
    """The newest listing day in the store (today when it is empty): the default daily page."""
    return listings.latest_listed(store) or date.today()


def list_period(store: Store, period: Period, limit: int, offset: int) -> tuple[list[tuple[int, Paper]], int]:
    """One page of the period's papers as (pk, paper), and how many papers the period has in all."""
    return listings.list_period(store, period.start, period.end, limit, offset)


def period_pks(store: Store, period: Period) -> list[int]:
    """Every paper pk of the period in the list's own order (for re-sorting, e.g. by trending)."""
    return listings.period_pks(store, period.start, period.end)


def neighbour_days(store: Store, day: date) -> tuple[date | None, date | None]:
    """The nearest earlier and later days that have papers (weekends and holidays have none)."""
    return listings.neighbour_days(store, day)
