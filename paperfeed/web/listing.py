"""The daily list: which papers belong to a day, an ISO week or a month, and the way around it.

A paper is on a day's list when it was listed that day (arXiv's announcement) or when a member
submitted it to that day.  Views are ordered newest listing first, then newest publication,
then id, so a page never reshuffles between two requests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, or_, select

from paperfeed.models import Paper
from paperfeed.store.papers import Store, paper_from_row
from paperfeed.store.schema import papers, submissions


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
    with store.read() as conn:  # max() alone walks one end of the index; min() and max() together scan it
        last = conn.execute(select(func.max(papers.c.listed))).scalar()
    return last or date.today()


def _in_period(period: Period):  # type: ignore[no-untyped-def]
    submitted = select(submissions.c.paper_pk).where(submissions.c.day.between(period.start, period.end))
    return or_(papers.c.listed.between(period.start, period.end), papers.c.pk.in_(submitted))


def list_period(store: Store, period: Period, limit: int, offset: int) -> tuple[list[tuple[int, Paper]], int]:
    """One page of the period's papers as (pk, paper), and how many papers the period has in all."""
    cond = _in_period(period)
    with store.read() as conn:
        total = int(conn.execute(select(func.count()).select_from(papers).where(cond)).scalar() or 0)
        rows = conn.execute(
            select(papers).where(cond)
            .order_by(papers.c.listed.desc(), papers.c.published.desc(), papers.c.id)
            .limit(limit).offset(offset)
        ).all()
    return [(r.pk, paper_from_row(r)) for r in rows], total


def period_pks(store: Store, period: Period) -> list[int]:
    """Every paper pk of the period in the list's own order (for re-sorting, e.g. by trending)."""
    with store.read() as conn:
        return list(conn.execute(
            select(papers.c.pk).where(_in_period(period))
            .order_by(papers.c.listed.desc(), papers.c.published.desc(), papers.c.id)
        ).scalars())


def neighbour_days(store: Store, day: date) -> tuple[date | None, date | None]:
    """The nearest earlier and later days that have papers (weekends and holidays have none)."""
    with store.read() as conn:
        prev = conn.execute(select(func.max(papers.c.listed)).where(papers.c.listed < day)).scalar()
        nxt = conn.execute(select(func.min(papers.c.listed)).where(papers.c.listed > day)).scalar()
    return prev, nxt
