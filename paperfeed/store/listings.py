"""Which papers a listing shows: a day's, week's or month's list, the days around it, a window's papers.

A paper is on a day's list when it was listed that day (arXiv's announcement) or when a member
submitted it to that day.  Lists are ordered newest listing first, then newest publication, then
id, so a page never reshuffles between two requests.  Periods are (first, last) days, both inclusive.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, or_, select

from paperfeed.models import Paper
from paperfeed.store.papers import Store, paper_from_row
from paperfeed.store.schema import papers, submissions

_ORDER = (papers.c.listed.desc(), papers.c.published.desc(), papers.c.id)


def latest_listed(store: Store) -> date | None:
    """The newest listing day in the store (None when it is empty)."""
    with store.read() as conn:  # max() alone walks one end of the index; min() and max() together scan it
        return conn.execute(select(func.max(papers.c.listed))).scalar()


def _in_period(start: date, end: date):  # type: ignore[no-untyped-def]
    submitted = select(submissions.c.paper_pk).where(submissions.c.day.between(start, end))
    return or_(papers.c.listed.between(start, end), papers.c.pk.in_(submitted))


def list_period(store: Store, start: date, end: date, limit: int, offset: int) -> tuple[list[tuple[int, Paper]], int]:
    """One page of the period's papers as (pk, paper), and how many papers the period has in all."""
    cond = _in_period(start, end)
    with store.read() as conn:
        total = int(conn.execute(select(func.count()).select_from(papers).where(cond)).scalar() or 0)
        rows = conn.execute(select(papers).where(cond).order_by(*_ORDER).limit(limit).offset(offset)).all()
    return [(r.pk, paper_from_row(r)) for r in rows], total


def period_pks(store: Store, start: date, end: date) -> list[int]:
    """Every paper pk of the period in the list's own order (for re-sorting, e.g. by trending)."""
    with store.read() as conn:
        return list(conn.execute(select(papers.c.pk).where(_in_period(start, end)).order_by(*_ORDER)).scalars())


def neighbour_days(store: Store, day: date) -> tuple[date | None, date | None]:
    """The nearest earlier and later days that have papers (weekends and holidays have none)."""
    with store.read() as conn:
        prev = conn.execute(select(func.max(papers.c.listed)).where(papers.c.listed < day)).scalar()
        nxt = conn.execute(select(func.min(papers.c.listed)).where(papers.c.listed > day)).scalar()
    return prev, nxt


def listed_between(store: Store, start: date, end: date) -> dict[int, Paper]:
    """Papers listed on `start` <= day < `end` (end exclusive: a digest's window), by pk."""
    with store.read() as conn:
        rows = conn.execute(select(papers).where(papers.c.listed >= start, papers.c.listed < end)
                            .order_by(papers.c.pk)).all()
    return {r.pk: paper_from_row(r) for r in rows}
