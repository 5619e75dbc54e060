"""When a subscriber's digests are due, and which listing days each one covers.

Pure functions of (subscriber, instant, last window sent): no clock, no database, so every
time-zone and DST case is a plain test.

Rules (all in the subscriber's own time zone, `Prefs.timezone`):

- daily: one digest on each local weekday (Mon-Fri) at `delivery_hour`; none on Saturday or
  Sunday.  It covers the listing days since the previous weekday's digest, so Monday's covers
  Friday, Saturday and Sunday.  Key: the local date, `2026-11-24`.
- weekly: one digest on the chosen weekday at `delivery_hour`, covering the 7 days before it.
  Key: the ISO week of that date, `2026-W48`.
- A window is half-open, `window_start <= listed < window_end`; `window_end` is the delivery date
  itself, so a digest only ever shows days whose listing is complete.
- DST: the delivery time is resolved with zoneinfo's `fold=0`.  An hour skipped by spring-forward
  (02:00 in Berlin on the last Sunday of March) becomes the instant the clocks jump to (03:00 CEST);
  an hour that repeats at fall-back takes its first occurrence.  Either way one instant per date,
  hence exactly one digest that day.
- Continuity: given the end of the last window the ledger recorded (`last_window_end`), the next
  window starts there.  So changing frequency, weekday or hour mid-week never covers a day twice
  and never skips one (a gap is bounded by MAX_WINDOW, so a subscriber back from months away is
  not sent months of papers).  A period whose days are all covered already is not due.
- One weekly digest per ISO week: after the weekday changes mid-week, a digest already sent that
  week (window ending on or after its Monday) makes the new weekday's wait for next week, whose window
  then starts where the last one ended.
- Catch-up horizon: a digest is sent late (after a crash or downtime) only within CATCH_UP of its
  due time; older ones are not (their days roll into the next window instead).  Nothing is due
  from before the subscriber confirmed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from paperfeed.mail.model import Period
from paperfeed.mail.subscriptions import Subscriber

CATCH_UP = {"daily": timedelta(hours=24), "weekly": timedelta(days=7)}
MAX_WINDOW = timedelta(days=14)
_WEEKDAYS = range(0, 5)


def local_due_at(day: date, hour: int, tz: ZoneInfo) -> datetime:
    """Naive UTC instant of `hour`:00 local time on `day` (fold=0: see the module docstring on DST)."""
    return datetime.combine(day, time(hour), tzinfo=tz).astimezone(UTC).replace(tzinfo=None)


def is_delivery_day(sub: Subscriber, day: date) -> bool:
    if sub.prefs.frequency == "weekly":
        return day.weekday() == sub.prefs.weekly_day
    return day.weekday() in _WEEKDAYS


def period_key(sub: Subscriber, day: date) -> str:
    if sub.prefs.frequency == "weekly":
        y, w, _ = day.isocalendar()
        return f"{y}-W{w:02d}"
    return day.isoformat()


def natural_window(sub: Subscriber, day: date) -> tuple[date, date]:
    """The listing days a digest delivered on `day` covers when the previous one went out on time."""
    if sub.prefs.frequency == "weekly":
        return day - timedelta(days=7), day
    back = 3 if day.weekday() == 0 else 1  # Monday: Friday, Saturday, Sunday
    return day - timedelta(days=back), day


def period_on(sub: Subscriber, day: date, last_window_end: date | None = None) -> Period | None:
    """The period delivered on local date `day`, or None when `day` is no delivery day or every day of
    its window was covered by an earlier digest."""
    if not is_delivery_day(sub, day):
        return None
    start, end = natural_window(sub, day)
    if last_window_end is not None:
        if last_window_end >= end:
            return None
        if sub.prefs.frequency == "weekly" and last_window_end >= day - timedelta(days=day.weekday()):
            return None  # a digest went out earlier this ISO week (weekday changed): one key per week
        start = max(last_window_end, end - MAX_WINDOW)
    due = local_due_at(day, sub.prefs.delivery_hour, ZoneInfo(sub.prefs.timezone))
    return Period(period_key(sub, day), start, end, due)


def _local_today(sub: Subscriber, now: datetime) -> date:
    return now.replace(tzinfo=UTC).astimezone(ZoneInfo(sub.prefs.timezone)).date()


def due_period(sub: Subscriber, now: datetime, last_window_end: date | None = None) -> Period | None:
    """The most recent period of `sub` due at or before `now` (naive UTC) that is still owed, or None.

    None when: the subscriber is not active; the most recent delivery time is beyond the catch-up
    horizon; it came before the subscription was confirmed; or its days are already covered
    (`last_window_end`, from the ledger, is at or after its end).  Sending what this returns and
    recording its window_end makes the next call return None until the next delivery time.
    """
    if not sub.active:
        return None
    today = _local_today(sub, now)
    for back in range(0, 9):  # a weekly day recurs within 7 days; one more for the local/UTC date skew
        day = today - timedelta(days=back)
        if not is_delivery_day(sub, day):
            continue
        due = local_due_at(day, sub.prefs.delivery_hour, ZoneInfo(sub.prefs.timezone))
        if due > now:
            continue
        if now - due > CATCH_UP[sub.prefs.frequency]:
            return None
        since = sub.confirmed_at or sub.created_at
        if due < since:
            return None
        return period_on(sub, day, last_window_end)
    return None


def next_period(sub: Subscriber, now: datetime, last_window_end: date | None = None) -> Period:
    """The next period still to come after `now` (what a preview shows): the first delivery time
    later than `now` whose window is not yet covered."""
    today = _local_today(sub, now)
    for ahead in range(0, 400):
        day = today + timedelta(days=ahead)
        if not is_delivery_day(sub, day):
            continue
        p = period_on(sub, day, last_window_end)
        if p is not None and p.due_at > now:
            return p
    raise ValueError("no delivery day within a year")  # unreachable with valid prefs
