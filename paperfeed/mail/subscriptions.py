"""Subscribers and what they follow (tables `subscribers`, `follows` of migration 0003).

The one place that writes these tables, so the web pages, the CLI and the digest runner agree on
what a subscription is.  Double opt-in: a new address is `pending` until its confirmation link is
used; only `active` subscribers get digests.  Subscribing again with the same address never makes a
second row (the database's unique email says so) and never reveals whether it existed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from paperfeed.store import subscriptions as sql
from paperfeed.store.papers import Store

SECTIONS = ("trending", "searches", "follows", "similar")
FREQUENCIES = ("daily", "weekly")
FOLLOW_KINDS = ("search", "author", "category")
STATUSES = ("pending", "active", "unsubscribed", "bounced")
MAX_FOLLOWS = 50
# One category (arXiv's `cs.CL`, `hep-th`, `cond-mat.mes-hall`, `q-bio.NC`, a library's `quantum`) or a
# prefix `cs.*`: letters, digits, `-` and `_`, parts joined by dots.  `cs.CL cs.AI` is two follows.
CATEGORY = re.compile(r"[A-Za-z0-9][\w-]*(\.[A-Za-z0-9][\w-]*)*(\.\*)?")
# Files in a zoneinfo folder that are not zones a person lives in: `localtime` is whatever the server's
# clock is set to (it moves with the machine), `posixrules` a tzcode default, `Factory` a placeholder.
NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@cache
def iana_zones() -> frozenset[str]:
    """The time zones a subscriber may choose: every IANA zone the server knows, minus `NOT_ZONES`."""
    return frozenset(available_timezones()) - NOT_ZONES


class SubscriptionError(ValueError):
    """A preference or follow the user can fix (bad time zone, unknown section, …): shown as is."""


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def normalise_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True)
class Prefs:
    """What a subscriber chose; the defaults are what a new subscriber gets."""

    frequency: str = "daily"  # daily = weekdays (Mon-Fri) in the subscriber's time zone
    weekly_day: int = 0  # Monday; used when weekly
    delivery_hour: int = 7  # local time
    timezone: str = "UTC"
    sections: tuple[str, ...] = SECTIONS
    send_empty: bool = False

    def checked(self) -> Prefs:
        if self.frequency not in FREQUENCIES:
            raise SubscriptionError(f"frequency must be daily or weekly, not {self.frequency!r}")
        if not 0 <= self.weekly_day <= 6:
            raise SubscriptionError("weekly day must be 0 (Monday) to 6 (Sunday)")
        if not 0 <= self.delivery_hour <= 23:
            raise SubscriptionError("delivery hour must be 0 to 23")
        try:
            if self.timezone not in iana_zones():
                raise ZoneInfoNotFoundError(self.timezone)
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SubscriptionError(f"unknown time zone {self.timezone[:80]!r} (use an IANA name, "
                                    "e.g. Europe/Berlin)") from None
        unknown = [s for s in self.sections if s not in SECTIONS]
        if unknown:
            raise SubscriptionError(f"unknown section {unknown[0]!r}; sections are {', '.join(SECTIONS)}")
        if not self.sections:
            raise SubscriptionError("choose at least one section")
        return replace(self, sections=tuple(s for s in SECTIONS if s in self.sections))


@dataclass(frozen=True)
class Follow:
    kind: str  # search | author | category
    value: str


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    user_id: int | None
    status: str
    prefs: Prefs
    created_at: datetime
    confirmed_at: datetime | None
    prefs_changed_at: datetime | None
    link_version: int = 0  # what a confirmation link must carry (bumped on unsubscribe / re-subscribe)

    @property
    def active(self) -> bool:
        return self.status == "active"


def _subscriber(r) -> Subscriber:  # type: ignore[no-untyped-def]
    prefs = Prefs(r.frequency, r.weekly_day, r.delivery_hour, r.timezone,
                  tuple(s for s in r.sections.split(",") if s), bool(r.send_empty))
    return Subscriber(r.id, r.email, r.user_id, r.status, prefs, r.created_at, r.confirmed_at, r.prefs_changed_at,
                      r.link_version)


def _prefs_values(p: Prefs) -> dict:
    return {"frequency": p.frequency, "weekly_day": p.weekly_day, "delivery_hour": p.delivery_hour,
            "timezone": p.timezone, "sections": ",".join(p.sections), "send_empty": int(p.send_empty)}


def check_follow(kind: str, value: str) -> Follow:
    value = " ".join(value.split())
    if kind not in FOLLOW_KINDS:
        raise SubscriptionError(f"you can follow a search, an author or a category, not {kind!r}")
    if not value:
        raise SubscriptionError(f"the {kind} to follow is empty")
    if len(value) > 1000:
        raise SubscriptionError(f"the {kind} to follow is longer than 1,000 characters")
    if kind == "category" and not (len(value) <= 64 and CATEGORY.fullmatch(value)):
        several = " ".join(value.replace(",", " ").split()).split(" ")
        if len(several) > 1 and all(CATEGORY.fullmatch(c) for c in several):
            raise SubscriptionError(f"follow one category at a time: {value[:80]!r} is {len(several)} "
                                    f"({', '.join(several[:5])}); add each on its own")
        raise SubscriptionError(f"{value[:80]!r} is not a category: give one like cs.CL, or a prefix like cs.*")
    if kind == "search":
        from paperfeed.search.query import QueryError, parse_query

        try:
            parse_query(value)
        except QueryError as e:
            raise SubscriptionError(f"saved search {value!r}: {e}") from None
    return Follow(kind, value)


class Subscriptions:
    def __init__(self, store: Store):
        self.store = store

    # -- subscribing ---------------------------------------------------------------------------------

    def subscribe(self, email: str, prefs: Prefs | None = None, user_id: int | None = None,
                  follows_: Iterable[Follow] = ()) -> tuple[Subscriber, bool]:
        """The subscriber for `email` and whether it was created now (False: it existed; nothing changed,
        except that an unsubscribed or pending address goes back to pending, to be confirmed again)."""
        from paperfeed.accounts.emails import BadAddress, checked_address

        prefs = (prefs or Prefs()).checked()
        checked = [check_follow(f.kind, f.value) for f in follows_]
        try:
            email = checked_address(email)
        except BadAddress as e:
            raise SubscriptionError(str(e)) from None
        row, created = sql.subscribe(self.store, email, _prefs_values(prefs), user_id,
                                     [(f.kind, f.value) for f in dict.fromkeys(checked)])
        return _subscriber(row), created

    def confirm(self, subscriber_id: int, version: int | None = None) -> Subscriber | None:
        """Activate a pending subscription (idempotent).  An unsubscribed or bounced one stays as it is:
        an old confirmation link must not undo an unsubscribe; nor may one issued before the latest
        unsubscribe / re-subscribe (`version`, from the link; None: the administrator vouches)."""
        r = sql.set_status(self.store, subscriber_id, "active", only_from=("pending",), link_version=version,
                           confirmed_at=utcnow())
        return _subscriber(r) if r is not None else None

    def unsubscribe(self, subscriber_id: int) -> Subscriber | None:
        r = sql.set_status(self.store, subscriber_id, "unsubscribed", only_from=("pending", "active"),
                           bump_link_version=True, unsubscribed_at=utcnow())
        return _subscriber(r) if r is not None else None

    def mark_bounced(self, subscriber_id: int, reason: str) -> None:
        """A permanent SMTP failure (5xx for this recipient): stop sending to the address."""
        sql.set_status(self.store, subscriber_id, "bounced", bounced_at=utcnow(), bounce_reason=reason[:2000])

    def update_prefs(self, subscriber_id: int, prefs: Prefs) -> Subscriber | None:
        prefs = prefs.checked()
        r = sql.update_columns(self.store, subscriber_id, prefs_changed_at=utcnow(), **_prefs_values(prefs))
        return _subscriber(r) if r is not None else None

    def link_user(self, subscriber_id: int, user_id: int | None) -> None:
        sql.update_columns(self.store, subscriber_id, user_id=user_id)

    # -- follows -------------------------------------------------------------------------------------

    def add_follow(self, subscriber_id: int, kind: str, value: str) -> Follow:
        f = check_follow(kind, value)
        if not sql.add_follow(self.store, subscriber_id, f.kind, f.value, MAX_FOLLOWS):
            raise SubscriptionError(f"at most {MAX_FOLLOWS} searches, authors and categories per subscription")
        return f

    def remove_follow(self, subscriber_id: int, kind: str, value: str) -> bool:
        return sql.remove_follow(self.store, subscriber_id, kind, value)

    def follows_of(self, subscriber_ids: Sequence[int]) -> dict[int, list[Follow]]:
        """Follows per subscriber, in the order they were added."""
        return {sid: [Follow(k, v) for k, v in fs] for sid, fs in sql.follows_of(self.store, subscriber_ids).items()}

    # -- reading -------------------------------------------------------------------------------------

    def get(self, subscriber_id: int) -> Subscriber | None:
        r = sql.get(self.store, subscriber_id)
        return _subscriber(r) if r is not None else None

    def by_email(self, email: str) -> Subscriber | None:
        r = sql.by_email(self.store, normalise_email(email))
        return _subscriber(r) if r is not None else None

    def for_user(self, user_id: int) -> Subscriber | None:
        """The subscription linked to an account, else the one under the account's email."""
        r = sql.for_user(self.store, user_id)
        return _subscriber(r) if r is not None else None

    def many(self, subscriber_ids: Sequence[int]) -> dict[int, Subscriber]:
        return {r.id: _subscriber(r) for r in sql.many(self.store, subscriber_ids)}

    def iter_active(self, chunk: int = 5000) -> Iterator[list[Subscriber]]:
        """Active subscribers in id order, a chunk at a time (100,000 of them fit, but need not)."""
        for rows in sql.iter_active(self.store, chunk):
            yield [_subscriber(r) for r in rows]
