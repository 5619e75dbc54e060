"""The query language: what each operator means, and clear errors for malformed queries."""

from __future__ import annotations

from datetime import date

import pytest

from paperfeed.search.query import Clause, QueryError, parse_query


def test_operators():
    q = parse_query('diffusion "parameter count" transform* -survey author:"Yann LeCun" cat:cs.CL since:2025-06')
    assert q.clauses == [
        Clause("term", "diffusion"),
        Clause("phrase", "parameter count"),
        Clause("prefix", "transform"),
        Clause("term", "survey", negated=True),
        Clause("phrase", "Yann LeCun", field="author"),
    ]
    assert q.categories == ["cs.CL"] and q.since == date(2025, 6, 1) and q.until is None
    assert q.free_text == "diffusion parameter count transform"


def test_date_forms_and_filter_only_queries():
    assert parse_query("until:2025-02").until == date(2025, 2, 28)
    assert parse_query("x until:2024").until == date(2024, 12, 31)
    q = parse_query("cat:cs.CV")
    assert not q.has_text and q.categories == ["cs.CV"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty query"),
        ("   ", "empty query"),
        ('"unclosed phrase', "unbalanced quote"),
        ("-only -negative", "only exclusions"),
        ("a* b", "too short"),
        ("foo:bar", "unknown field 'foo:'"),
        ("since:yesterday x", "expects a date"),
        ("x since:2025-05-01 until:2025-01-01", "is after"),
        ("x" * 1001, "too long"),
        ("-cat:cs.CL x", "cannot be negated"),
        (" ".join(f"w{i}" for i in range(65)), "too many terms"),
    ],
)
def test_malformed_queries_say_what_is_wrong(text, message):
    with pytest.raises(QueryError, match=message):
        parse_query(text)


def test_hostile_characters_are_plain_text():
    q = parse_query("<script>alert(1)</script> $\\alpha$ \x00\x07 ∑")
    assert all(c.kind == "term" for c in q.clauses)
    assert "\x00" not in q.free_text
