"""Why a digest is empty, in words: what `paperfeed digest preview` prints instead of a bare empty message.

An empty preview left its reader guessing: is the subscription inactive, is the store out of date (the
shared corpus ends months before today, so "today's" window holds no papers at all), or did nothing
match?  The checks run in the order a person would look, and each reason names the facts it rests on
("no papers listed since 26 Nov; the newest listed day is 1 Jul 2026").  Read-only, like the preview.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from paperfeed.mail.digest import DigestBuilder, normalise_name
from paperfeed.mail.model import Digest
from paperfeed.mail.subscriptions import Subscriptions

if TYPE_CHECKING:
    from paperfeed.core import Paperfeed

STATUS_REASONS = {
    "pending": "not confirmed yet: nothing is sent until the link in the confirmation email is opened "
               "(or an administrator runs `paperfeed digest subscribe EMAIL --confirm`)",
    "unsubscribed": "unsubscribed: nothing is sent until the address subscribes again",
    "bounced": "the address bounced (the mail server refused it): nothing more is sent to it",
}


def day_text(d: date, today: date) -> str:
    """"26 Nov" in the current year, "1 Jul 2026" otherwise."""
    return f"{d.day} {d:%b}" + ("" if d.year == today.year else f" {d.year}")


def why_empty(pf: Paperfeed, digest: Digest, today: date) -> list[str]:
    """Reasons, most fundamental first; [] when the digest is not empty."""
    if not digest.empty:
        return []
    sub, period = digest.subscriber, digest.period
    reasons = [STATUS_REASONS[sub.status]] if sub.status in STATUS_REASONS else []
    w = DigestBuilder(pf).window(period)
    start, last = period.window_start, period.window_end - timedelta(days=1)
    span = day_text(start, today) if start == last else f"{day_text(start, today)} to {day_text(last, today)}"
    if not w.new_pks:
        _first, newest = pf.store.date_range()
        if newest is None:
            reasons.append("the store has no papers at all (add some with `paperfeed ingest`)")
        elif newest < start:
            reasons.append(f"no papers listed since {day_text(start, today)}; the newest listed day is "
                           f"{day_text(newest, today)} (the store is not up to date: ingest newer papers)")
        else:
            reasons.append(f"no papers listed on {span}, the days this digest covers")
        if not w.trending:
            return reasons
    wanted = set(sub.prefs.sections)
    follows = Subscriptions(pf.store).follows_of([sub.id])[sub.id]
    if not wanted:
        reasons.append("every section is turned off in the preferences")
        return reasons
    if "trending" in wanted and not w.trending:
        reasons.append(f"no paper was upvoted on {span}, so there is nothing trending")
    if not follows and not sub.user_id:
        reasons.append("nothing is followed (no saved search, author or category)")
        return reasons
    if not w.new_pks:
        return reasons
    counts = []
    for f in follows:
        if f.kind == "search" and "searches" in wanted:
            counts.append((f"search {f.value!r}", len(w.search(f.value))))
        elif f.kind == "author" and "follows" in wanted:
            counts.append((f"author {f.value}", len(w.by_author.get(normalise_name(f.value), []))))
        elif f.kind == "category" and "follows" in wanted:
            counts.append((f"category {f.value}", len(w.category(f.value))))
    n = len(w.new_pks)
    if counts and not any(c for _what, c in counts):
        each = ", ".join(f"{what}: 0" for what, _c in counts)
        reasons.append(f"nothing matched your follows among the {n:,} papers listed on {span} ({each})")
    elif counts:
        reasons.append(f"the papers that matched your follows among the {n:,} listed on {span} were all in "
                       "earlier digests or upvoted by you (a paper is never sent twice)")
    return reasons
