"""Reading the subscription forms: turn posted text into `Prefs` / `Follow`s, or a message to show.

Kept apart from the routes so the rules (which time zones, hours and days exist, what a follow may
be) live in one place, and so a rejected form can be shown again exactly as it was typed: nothing
the visitor entered is lost to a validation error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from zoneinfo import available_timezones

from paperfeed.mail.model import SECTION_TITLES
from paperfeed.mail.subscriptions import (
    FOLLOW_KINDS,
    FREQUENCIES,
    SECTIONS,
    Follow,
    Prefs,
    SubscriptionError,
    check_follow,
)

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FOLLOW_LABELS = {"search": "Saved search", "author": "Author", "category": "Category"}


@cache
def timezones() -> tuple[str, ...]:
    """Every IANA zone the server knows (tzdata), sorted: the select on the preferences page."""
    return tuple(sorted(available_timezones()))


def _int(text: str, what: str, low: int, high: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise SubscriptionError(f"{what} must be a number from {low} to {high}") from None
    if not low <= value <= high:
        raise SubscriptionError(f"{what} must be from {low} to {high}")
    return value


@dataclass
class PrefsForm:
    """The preferences form as posted (strings), so an invalid one is redisplayed unchanged."""

    frequency: str = "daily"
    weekly_day: str = "0"
    delivery_hour: str = "7"
    timezone: str = "UTC"
    sections: list[str] = field(default_factory=lambda: list(SECTIONS))
    send_empty: bool = False

    @classmethod
    def of(cls, p: Prefs) -> PrefsForm:
        return cls(p.frequency, str(p.weekly_day), str(p.delivery_hour), p.timezone, list(p.sections), p.send_empty)

    def prefs(self) -> Prefs:
        """The checked `Prefs`, or `SubscriptionError` saying what to fix."""
        if self.frequency not in FREQUENCIES:
            raise SubscriptionError("choose daily or weekly")
        if self.timezone not in timezones():  # only names the select offers: no paths, no odd spellings
            raise SubscriptionError(f"unknown time zone {self.timezone[:80]!r} (use an IANA name, e.g. Europe/Berlin)")
        return Prefs(frequency=self.frequency,
                     weekly_day=_int(self.weekly_day, "the weekly day", 0, 6),
                     delivery_hour=_int(self.delivery_hour, "the delivery hour", 0, 23),
                     timezone=self.timezone,
                     sections=tuple(self.sections),
                     send_empty=self.send_empty).checked()


def check_email(email: str) -> str:
    """The normalised address, or `SubscriptionError` (email-validator's syntax check, offline; delivery is
    what really proves it)."""
    from paperfeed.accounts.emails import BadAddress, checked_address

    try:
        return checked_address(email)
    except BadAddress as e:
        raise SubscriptionError(str(e)) from None


def initial_follows(search: str, author: str, category: str) -> list[Follow]:
    """The optional follows of the subscribe form (each field may be empty), checked."""
    out = []
    for kind, value in (("search", search), ("author", author), ("category", category)):
        if value.strip():
            out.append(check_follow(kind, value))
    return out


def follow_kind(kind: str) -> str:
    if kind not in FOLLOW_KINDS:
        raise SubscriptionError("choose a saved search, an author or a category")
    return kind


def form_choices() -> dict[str, object]:
    """What every rendering of the preferences form needs besides the subscriber's values."""
    return {"timezones": timezones(), "weekdays": list(enumerate(WEEKDAYS)), "hours": list(range(24)),
            "section_titles": SECTION_TITLES, "follow_labels": FOLLOW_LABELS}
