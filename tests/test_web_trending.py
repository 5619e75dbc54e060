"""Unit tests of the pure parts of the site: trending scores and order, periods, highlighting, rate limits."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from paperfeed.ranking.trending import rank, trending_scores, vote_weight, window
from paperfeed.search.query import parse_query
from paperfeed.web.highlight import highlight, terms_pattern
from paperfeed.web.listing import PeriodError, parse_period
from paperfeed.web.security import RateLimiter

NOW = datetime(2026, 3, 10, 12, 0)


def test_vote_weight_halves_every_half_life_and_never_exceeds_one():
    assert vote_weight(0, 6) == 1.0
    assert vote_weight(6, 6) == pytest.approx(0.5)
    assert vote_weight(12, 6) == pytest.approx(0.25)
    assert vote_weight(-5, 6) == 1.0  # clock skew: a future vote counts as fresh, not more


def test_scores_sum_decayed_votes_within_the_window_only():
    votes = [(1, NOW), (1, NOW - timedelta(hours=6)), (2, NOW - timedelta(hours=30)), (3, NOW - timedelta(hours=1))]
    day = trending_scores(votes, NOW, "day")
    assert day[1] == pytest.approx(1.5)
    assert 2 not in day  # older than 24 hours: outside the day's window
    week = trending_scores(votes, NOW, "week")
    assert week[2] == pytest.approx(2 ** (-30 / 36))


def test_fresh_votes_beat_more_but_older_votes():
    votes = [(1, NOW - timedelta(hours=20))] * 3 + [(2, NOW - timedelta(minutes=5))] * 2
    s = trending_scores(votes, NOW, "day")
    assert rank(s, {}, {1: "a", 2: "b"}) == [2, 1]


def test_ties_are_broken_by_newest_listing_then_id():
    scores = {1: 1.0, 2: 1.0, 3: 1.0, 4: 2.0}
    listed = {1: date(2026, 3, 1), 2: date(2026, 3, 9), 3: date(2026, 3, 1), 4: None}
    ids = {1: "2603.00002", 2: "2603.00009", 3: "2603.00001", 4: "x"}
    assert rank(scores, listed, ids) == [4, 2, 3, 1]
    assert rank(scores, listed, ids) == rank(dict(reversed(scores.items())), listed, ids)


def test_unknown_period_is_an_error():
    with pytest.raises(ValueError):
        window("year")
    with pytest.raises(ValueError):
        trending_scores([], NOW, "decade")


def test_periods_parse_and_step():
    d = parse_period("2025-09-29", None, None, date(2025, 1, 1))
    assert (d.kind, d.start, d.end) == ("day", date(2025, 9, 29), date(2025, 9, 29))
    w = parse_period(None, "2025-W40", None, date(2025, 1, 1))
    assert (w.start, w.end, w.param) == (date(2025, 9, 29), date(2025, 10, 5), ("week", "2025-W40"))
    m = parse_period(None, None, "2025-12", date(2025, 1, 1))
    assert (m.start, m.end) == (date(2025, 12, 1), date(2025, 12, 31))
    assert m.shifted(1).param == ("month", "2026-01") and m.shifted(-12).param == ("month", "2024-12")
    assert parse_period(None, None, None, date(2025, 10, 1)).start == date(2025, 10, 1)


@pytest.mark.parametrize("args", [("2025-13-01", None, None), ("29/09/2025", None, None), (None, "2025-W60", None),
                                  (None, None, "2025-1"), ("2025-09-29", "2025-W40", None), ("9" * 40, None, None)])
def test_bad_periods_are_period_errors(args):
    with pytest.raises(PeriodError):
        parse_period(*args, default=date(2025, 1, 1))


def test_highlight_escapes_first_then_marks():
    pat = terms_pattern(parse_query('transformer "attention map" amp'))
    out = str(highlight("<b>Transformers</b> & attention maps &amp; amplifiers", pat))
    assert "<b>" not in out and "&lt;b&gt;" in out
    assert "<mark>Transformers</mark>" in out and "<mark>attention</mark>" in out
    # the text's literal "&amp;" is matched in the raw text, so the mark never cuts an entity in half
    assert "&amp;<mark>amp</mark>;" in out
    assert "<mark>amplifiers</mark>" in out
    assert str(highlight("<script>x</script>", None)) == "&lt;script&gt;x&lt;/script&gt;"


def test_rate_limiter_token_bucket(tmp_path):
    from paperfeed.store.papers import Store

    rl = RateLimiter({"login": (2, 1.0)}, Store.open(tmp_path / "rl.db"))
    assert rl.allow("login", "a", now=0) and rl.allow("login", "a", now=0)
    assert not rl.allow("login", "a", now=0)
    assert rl.allow("login", "b", now=0)  # per client
    assert rl.allow("login", "a", now=1.0)  # refilled one token after a second
    assert rl.allow("search", "a", now=0)  # no limit configured
