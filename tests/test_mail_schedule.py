"""Scheduling of digests: weekdays, time zones, DST days, frequency changes, catch-up.

Most tests drive `due_period` the way the runner does: a clock that ticks in small steps, a ledger
that remembers the end of the last window sent, and a check that the windows sent tile the days
exactly (no day twice, none skipped).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperfeed.mail.model import Period
from paperfeed.mail.schedule import CATCH_UP, MAX_WINDOW, due_period, local_due_at, next_period
from paperfeed.mail.subscriptions import Prefs, Subscriber

T0 = datetime(2026, 1, 1)


def sub(frequency: str = "daily", hour: int = 7, tz: str = "UTC", weekly_day: int = 0,
        confirmed: datetime = T0) -> Subscriber:
    return Subscriber(1, "a@example.org", None, "active",
                      Prefs(frequency, weekly_day, hour, tz).checked(), confirmed, confirmed, None)


def run_clock(s: Subscriber, start: datetime, end: datetime, step: timedelta = timedelta(minutes=15),
              last_end: date | None = None,
              changes: dict[datetime, Prefs] | None = None) -> list[tuple[datetime, Period]]:
    """(send time, period) of every digest a runner ticking every `step` would send."""
    sent: list[tuple[datetime, Period]] = []
    t = start
    changes = dict(changes or {})
    while t < end:
        for at in sorted(changes):
            if at <= t:
                s = replace(s, prefs=changes.pop(at).checked())
        p = due_period(s, t, last_end)
        if p is not None:
            assert p.due_at <= t
            sent.append((t, p))
            last_end = p.window_end
        t += step
    return sent


def assert_tiles(periods: list[Period]) -> None:
    """Consecutive windows meet exactly: no day covered twice, none skipped; keys unique."""
    for a, b in zip(periods, periods[1:], strict=False):
        assert b.window_start == a.window_end, (a, b)
        assert a.window_start < a.window_end
    assert len({p.key for p in periods}) == len(periods)


def test_daily_skips_weekends_and_monday_covers_friday_to_sunday():
    sent = run_clock(sub(), datetime(2026, 6, 1), datetime(2026, 6, 15), timedelta(hours=1))
    keys = [p.key for _t, p in sent]
    assert keys == ["2026-06-01", "2026-06-02", "2026-06-03", "2026-06-04", "2026-06-05",
                    "2026-06-08", "2026-06-09", "2026-06-10", "2026-06-11", "2026-06-12"]
    monday = sent[5][1]
    assert (monday.window_start, monday.window_end) == (date(2026, 6, 5), date(2026, 6, 8))
    tuesday = sent[6][1]
    assert (tuesday.window_start, tuesday.window_end) == (date(2026, 6, 8), date(2026, 6, 9))
    assert all(t == p.due_at == datetime.combine(date.fromisoformat(p.key), datetime.min.time()) + timedelta(hours=7)
               for t, p in sent)
    assert_tiles([p for _t, p in sent])


def test_weekend_is_local_time_not_utc():
    # Los Angeles, delivery 18:00: Friday 18:00 local is Saturday 01:00 UTC (a digest);
    # Sunday 18:00 local is Monday 01:00 UTC (no digest).
    s = sub(hour=18, tz="America/Los_Angeles")
    sent = run_clock(s, datetime(2026, 6, 5, 2), datetime(2026, 6, 9, 12), last_end=date(2026, 6, 4))
    assert [(t, p.key) for t, p in sent] == [(datetime(2026, 6, 6, 1), "2026-06-05"),
                                             (datetime(2026, 6, 9, 1), "2026-06-08")]


def test_east_of_utc_local_monday_is_sunday_in_utc():
    # Auckland (UTC+12 in June): Monday 07:00 local is Sunday 19:00 UTC; Saturday 07:00 local
    # (Friday 19:00 UTC) gets nothing.
    s = sub(tz="Pacific/Auckland")
    sent = run_clock(s, datetime(2026, 6, 4, 12), datetime(2026, 6, 8, 12), last_end=date(2026, 6, 4))
    assert [(t, p.key) for t, p in sent] == [(datetime(2026, 6, 4, 19), "2026-06-05"),
                                             (datetime(2026, 6, 7, 19), "2026-06-08")]
    monday = sent[1][1]
    assert monday.due_at.weekday() == 6  # Sunday in UTC
    assert (monday.window_start, monday.window_end) == (date(2026, 6, 5), date(2026, 6, 8))


def test_dst_spring_forward_and_fall_back_give_exactly_one_digest():
    # Sunday DST days, so weekly on Sunday; delivery hours that do not exist or occur twice.
    cases = [
        ("Europe/Berlin", date(2026, 3, 29), 2, datetime(2026, 3, 29, 1, 0)),  # 02:00 skipped -> 03:00 CEST
        ("Europe/Berlin", date(2025, 10, 26), 2, datetime(2025, 10, 26, 0, 0)),  # 02:00 twice -> first (CEST)
        ("America/New_York", date(2026, 3, 8), 2, datetime(2026, 3, 8, 7, 0)),  # 02:00 skipped -> 03:00 EDT
        ("America/New_York", date(2025, 11, 2), 1, datetime(2025, 11, 2, 5, 0)),  # 01:00 twice -> first (EDT)
    ]
    for tz, day, hour, due_utc in cases:
        s = sub("weekly", hour, tz, weekly_day=6, confirmed=datetime(2025, 1, 1))
        start = datetime.combine(day, datetime.min.time()) - timedelta(days=2)
        sent = run_clock(s, start, start + timedelta(days=4), timedelta(minutes=5), last_end=day - timedelta(days=7))
        assert len(sent) == 1, (tz, day, sent)
        t, p = sent[0]
        assert p.due_at == due_utc == t, (tz, day, p)
        assert (p.window_start, p.window_end) == (day - timedelta(days=7), day)
        assert local_due_at(day, hour, ZoneInfo(tz)) == due_utc


def test_daily_around_dst_keeps_local_hour():
    # Berlin springs forward on Sunday 2026-03-29: Friday 07:00 CET = 06:00 UTC, Monday 07:00 CEST = 05:00 UTC.
    s = sub(tz="Europe/Berlin", confirmed=datetime(2026, 3, 27))
    sent = run_clock(s, datetime(2026, 3, 27), datetime(2026, 3, 31), timedelta(minutes=5))
    assert [(p.key, p.due_at) for _t, p in sent] == [("2026-03-27", datetime(2026, 3, 27, 6)),
                                                      ("2026-03-30", datetime(2026, 3, 30, 5))]
    # New York falls back on Sunday 2025-11-02: Friday 07:00 EDT = 11:00 UTC, Monday 07:00 EST = 12:00 UTC.
    s = sub(tz="America/New_York", confirmed=datetime(2025, 10, 31))
    sent = run_clock(s, datetime(2025, 10, 31), datetime(2025, 11, 4), timedelta(minutes=5))
    assert [(p.key, p.due_at) for _t, p in sent] == [("2025-10-31", datetime(2025, 10, 31, 11)),
                                                      ("2025-11-03", datetime(2025, 11, 3, 12))]


def test_weekly_on_chosen_day():
    s = sub("weekly", 9, "Europe/Berlin", weekly_day=2, confirmed=datetime(2026, 6, 1))  # Wednesday 09:00
    sent = run_clock(s, datetime(2026, 6, 1), datetime(2026, 6, 22), timedelta(hours=1))
    assert [p.key for _t, p in sent] == ["2026-W23", "2026-W24", "2026-W25"]
    for _t, p in sent:
        assert p.window_end.weekday() == 2 and p.window_end - p.window_start == timedelta(days=7)
        assert p.due_at.hour == 7  # 09:00 CEST
    assert_tiles([p for _t, p in sent])


def test_frequency_change_mid_week_never_covers_a_day_twice_nor_skips_one():
    s = sub()
    # daily; on Wednesday noon weekly on Friday; on the next-but-one Tuesday noon daily again
    changes = {datetime(2026, 6, 3, 12): Prefs("weekly", 4, 7, "UTC"),
               datetime(2026, 6, 16, 12): Prefs("daily", 0, 7, "UTC")}
    sent = run_clock(s, datetime(2026, 6, 1), datetime(2026, 6, 19), timedelta(hours=1), changes=changes)
    periods = [p for _t, p in sent]
    # a daily went out this ISO week, so the first weekly is next week's (one weekly key per week)
    assert [p.key for p in periods] == ["2026-06-01", "2026-06-02", "2026-06-03", "2026-W24",
                                        "2026-06-16", "2026-06-17", "2026-06-18"]
    weekly = periods[3]
    assert (weekly.window_start, weekly.window_end) == (date(2026, 6, 3), date(2026, 6, 12))
    back_to_daily = periods[4]
    assert (back_to_daily.window_start, back_to_daily.window_end) == (date(2026, 6, 12), date(2026, 6, 16))
    assert sent[4][0] == datetime(2026, 6, 16, 12)  # due at 07:00, sent as soon as the change was made
    assert_tiles(periods)


def test_weekday_change_within_a_week_sends_one_weekly_that_week():
    s = sub("weekly", 7, "UTC", weekly_day=0)
    changes = {datetime(2026, 6, 2, 12): Prefs("weekly", 3, 7, "UTC")}  # Monday -> Thursday, on Tuesday
    sent = run_clock(s, datetime(2026, 6, 1), datetime(2026, 6, 19), timedelta(hours=1), changes=changes,
                     last_end=date(2026, 5, 25))
    periods = [p for _t, p in sent]
    assert [p.key for p in periods] == ["2026-W23", "2026-W24", "2026-W25"]
    assert (periods[1].window_start, periods[1].window_end) == (date(2026, 6, 1), date(2026, 6, 11))
    assert_tiles(periods)


def test_catch_up_horizon_and_confirmation():
    s = sub()
    friday = datetime(2026, 6, 5, 7)
    assert due_period(s, friday + CATCH_UP["daily"] - timedelta(minutes=1)).key == "2026-06-05"  # late, still sent
    assert due_period(s, friday + CATCH_UP["daily"] + timedelta(minutes=1)) is None  # Saturday morning: too late
    # confirmed after Tuesday's delivery time: nothing from Tuesday, Wednesday's comes
    late = sub(confirmed=datetime(2026, 6, 2, 7, 30))
    assert due_period(late, datetime(2026, 6, 2, 12)) is None
    assert due_period(late, datetime(2026, 6, 3, 7)).key == "2026-06-03"
    # not active: nothing
    assert due_period(replace(s, status="unsubscribed"), friday) is None
    # downtime Tuesday to Thursday: Friday's window starts where the last one (Monday's) ended
    p = due_period(s, friday, last_window_end=date(2026, 6, 1))
    assert (p.window_start, p.window_end) == (date(2026, 6, 1), date(2026, 6, 5))
    # away for months: the window is bounded
    p = due_period(s, friday, last_window_end=date(2026, 1, 5))
    assert p.window_end - p.window_start == MAX_WINDOW
    # already sent: not due again
    assert due_period(s, friday + timedelta(hours=3), last_window_end=date(2026, 6, 5)) is None


def test_next_period_is_the_next_to_come():
    s = sub(tz="America/New_York")  # 07:00 EDT = 11:00 UTC
    p = next_period(s, datetime(2026, 6, 5, 12))  # Friday after delivery -> Monday
    assert (p.key, p.due_at, p.window_start, p.window_end) == (
        "2026-06-08", datetime(2026, 6, 8, 11), date(2026, 6, 5), date(2026, 6, 8))
    assert next_period(s, datetime(2026, 6, 5, 10)).key == "2026-06-05"
    w = next_period(sub("weekly", weekly_day=6), datetime(2026, 6, 1))
    assert w.key == "2026-W23" and w.window_end == date(2026, 6, 7)


ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Pacific/Auckland", "Asia/Kolkata", "America/St_Johns",
         "Australia/Lord_Howe", "Pacific/Kiritimati"]
prefs_st = st.builds(lambda f, d, h, z: Prefs(f, d, h, z), st.sampled_from(["daily", "weekly"]),
                     st.integers(0, 6), st.integers(0, 23), st.sampled_from(ZONES))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=prefs_st, changes=st.lists(st.tuples(st.integers(0, 20 * 24), prefs_st), max_size=3),
       start=st.sampled_from([datetime(2026, 3, 2), datetime(2025, 10, 20), datetime(2026, 6, 1)]))
def test_any_preference_changes_tile_the_days(first, changes, start):
    """Random zones (half-hour and DST-at-30-minutes ones too), hours and changes over three weeks
    that include DST days: every window meets the previous one exactly, keys never repeat, and each
    digest goes out at or after its due time and within the catch-up horizon."""
    s = sub(first.frequency, first.delivery_hour, first.timezone, first.weekly_day, confirmed=start)
    ch = {start + timedelta(hours=h): p for h, p in changes}
    sent = run_clock(s, start, start + timedelta(days=21), timedelta(hours=1), changes=ch)
    periods = [p for _t, p in sent]
    assert periods, "three weeks without a single digest"
    assert_tiles(periods)
    for t, p in sent:
        assert p.due_at <= t < p.due_at + timedelta(hours=1) + CATCH_UP["weekly"]
