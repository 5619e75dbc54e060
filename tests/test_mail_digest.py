"""DigestBuilder on a real store: shared-corpus papers (2025-12-22 ... 2025-12-30), real embeddings of the
papers the tests need, real accounts, votes and subscribers."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from conftest import corpus_records, write_jsonl
from sqlalchemy import func, insert, select

from paperfeed.mail.digest import SECTION_CAP, DigestBuilder, normalise_name
from paperfeed.mail.model import Period
from paperfeed.mail.subscriptions import Follow, Prefs, Subscriptions
from paperfeed.models import embedding_text
from paperfeed.recommend.service import FeedService
from paperfeed.search.lexical import ANALYZERS
from paperfeed.store.accounts import AccountStore
from paperfeed.store.schema import digest_items, digests, votes

DAY = Period("2025-12-30", date(2025, 12, 29), date(2025, 12, 30), datetime(2025, 12, 30, 7))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Store + embeddings of the window's papers and the liked ones; three voters; one liking user."""
    from paperfeed.config import MODEL_NAME
    from paperfeed.core import Paperfeed
    from paperfeed.ingestion.pipeline import ingest_paths
    from paperfeed.search.embedder import get_embedder

    d = tmp_path_factory.mktemp("digest")
    pf = Paperfeed(d / "papers.db")
    ingest_paths(pf.store, [str(write_jsonl(d / "s.jsonl", corpus_records(600, skip=40000)))])
    window = DigestBuilder(pf).window(DAY)
    before = DigestBuilder(pf).window(Period("x", date(2025, 12, 24), date(2025, 12, 25), DAY.due_at))
    # liked: two papers listed before the window, on topics the window has plenty of
    liked_pks = [pk for pk in before.new_pks if "language model" in before.papers[pk].title.lower()][:1] + \
        [pk for pk in before.new_pks if "diffusion" in before.papers[pk].title.lower()][:1]
    assert len(liked_pks) == 2 and len(window.new_pks) == 133
    # embedding costs ~40 ms a paper: embed the liked papers and 40 of the window's (the rest, unembedded,
    # can never be "similar": that is part of what is tested)
    topical = [pk for pk in window.new_pks if any(w in window.papers[pk].title.lower()
                                                  for w in ("language model", "diffusion"))]
    todo = pf.store.get_many((topical + window.new_pks)[:40] + liked_pks)
    vecs = get_embedder().embed([embedding_text(p.title, p.abstract) for p in todo.values()])
    pf.store.put_embeddings(MODEL_NAME, zip((p.content_hash() for p in todo.values()), vecs, strict=True))
    com = AccountStore(pf.store)
    voters = [com.create_user(f"voter{i}@example.org", "x").id for i in range(3)]
    fan = com.create_user("fan@example.org", "x").id
    t = datetime(2025, 12, 29, 10)
    hot = window.new_pks[5:8]  # 3 votes, 2 votes, 1 vote
    rows = [{"user_id": voters[i], "paper_pk": pk, "created_at": t + timedelta(minutes=i)}
            for n, pk in enumerate(hot) for i in range(3 - n)]
    rows += [{"user_id": fan, "paper_pk": pk, "created_at": datetime(2025, 12, 26, 9)} for pk in liked_pks]
    with pf.store.write() as conn:
        conn.execute(insert(votes), rows)
    yield {"pf": pf, "hot": hot, "liked": liked_pks, "fan": fan, "new": window.new_pks, "embedded": set(todo)}
    pf.close()


def subscribe(pf, email: str, follows: list[Follow], user_id: int | None = None, **prefs):
    subs = Subscriptions(pf.store)
    s, _ = subs.subscribe(email, Prefs(**prefs), user_id=user_id, follows_=follows)
    return subs.confirm(s.id)


def words(text: str) -> set[str]:
    return set(ANALYZERS["en"].analyze(text))


def test_sections_reasons_and_each_paper_once(world):
    pf, new = world["pf"], set(world["new"])
    papers = pf.store.get_many(world["new"])
    author_pk = world["new"][20]
    author = papers[author_pk].authors[0]
    follows = [Follow("search", "language model"), Follow("search", '"reinforcement learning"'),
               Follow("author", author.upper()), Follow("category", "cs.RO")]
    s = subscribe(pf, "all@example.org", follows, user_id=world["fan"])
    d = DigestBuilder(pf).build(s, DAY)

    pks = [p.paper_pk for p in d.picks]
    assert len(pks) == len(set(pks)), "a paper twice in one email"
    assert [sec for sec, _ in d.sections()] == ["trending", "searches", "follows", "similar"]
    by = dict(d.sections())
    assert all(len(v) <= SECTION_CAP for v in by.values())
    # trending: the voted papers, most votes first, with the count in the reason
    assert [p.paper_pk for p in by["trending"]] == world["hot"]
    assert by["trending"][0].reason == "trending: 3 upvotes in this period"
    assert by["trending"][2].reason == "trending: 1 upvote in this period"
    # searches: every pick is new and holds all the words of the search that names it
    for p in by["searches"]:
        assert p.paper_pk in new and p.paper_pk not in world["hot"]
        q = p.reason.removeprefix("matches your search ").strip('"')
        assert words(q) <= words(f"{p.paper.title} {p.paper.abstract} {' '.join(p.paper.authors)}"), p
    assert len({p.reason for p in by["searches"]}) == 2, "both searches take turns"
    # follows: the author's paper (name matched case-insensitively), then cs.RO papers
    assert by["follows"][0].paper_pk == author_pk and author.upper() in by["follows"][0].reason
    for p in by["follows"][1:]:
        assert "cs.RO" in p.paper.categories or normalise_name(author) in map(normalise_name, p.paper.authors)
    # For you: the recommender's own picks and reasons (FeedService over the window's papers), the liked
    # papers themselves and the earlier sections' picks left out
    assert by["similar"]
    ranked = FeedService(pf.store).for_members([world["fan"]], [pf.store.get_many([pk])[pk].id for pk in world["new"]],
                                               None)[world["fan"]]
    expected = [(fp.pk, fp.reason) for fp in ranked if fp.pk not in set(pks) - {p.paper_pk for p in by["similar"]}]
    assert [(p.paper_pk, p.reason) for p in by["similar"]] == expected[:SECTION_CAP]
    liked_titles = {pf.store.get_many([pk])[pk].title for pk in world["liked"]}
    for p in by["similar"]:
        assert p.paper_pk in new
        because = p.reason.startswith("because you upvoted \u201c") and any(
            p.reason[21:-1].rstrip("\u2026") in t for t in liked_titles)
        assert because or p.reason.startswith(("matches your search", "by ", "new in ")), p.reason
    assert not set(world["liked"]) & set(pks)


def test_sections_follow_preferences_and_prefix_categories(world):
    pf = world["pf"]
    s = subscribe(pf, "cats@example.org", [Follow("category", "cs.*"), Follow("category", "eess.IV")],
                  sections=("follows",))
    d = DigestBuilder(pf).build(s, DAY)
    assert {p.section for p in d.picks} == {"follows"} and len(d.picks) == SECTION_CAP
    assert all(any(c.startswith("cs.") for c in p.paper.categories) or "eess.IV" in p.paper.categories
               for p in d.picks)
    assert any("eess.IV" in p.reason for p in d.picks), "the second category gets its turn"


def test_no_votes_means_no_trending_section(world):
    pf = world["pf"]
    s = subscribe(pf, "quiet@example.org", [Follow("search", "model")])
    earlier = Period("2025-12-25", date(2025, 12, 24), date(2025, 12, 25), datetime(2025, 12, 25, 7))
    d = DigestBuilder(pf).build(s, earlier)
    assert d.picks and all(p.section == "searches" for p in d.picks)
    assert all(p.paper.listed == date(2025, 12, 24) for p in d.picks)


def test_papers_never_come_again_in_a_later_digest(world):
    pf = world["pf"]
    s = subscribe(pf, "again@example.org", [Follow("search", "language model")])
    b = DigestBuilder(pf)
    first = b.build(s, DAY)
    # the ledger records the first digest as sent (and a failed one that never arrived)
    with pf.store.write() as conn:
        for key, status, picks in (("2025-12-30", "sent", first.picks[:4]), ("2025-12-31", "failed", first.picks[4:6])):
            did = conn.execute(insert(digests).values(
                subscriber_id=s.id, period=key, window_start=DAY.window_start, window_end=DAY.window_end,
                due_at=DAY.due_at, status=status, message_id=f"<t.{s.id}.{key}@x>", created_at=DAY.due_at,
            )).inserted_primary_key[0]
            conn.execute(insert(digest_items), [
                {"digest_id": did, "subscriber_id": s.id, "paper_pk": p.paper_pk, "section": p.section,
                 "reason": p.reason, "position": i} for i, p in enumerate(picks)])
    weekly = Period("2026-W01", date(2025, 12, 23), date(2025, 12, 30), datetime(2025, 12, 30, 7))
    again = b.build(s, weekly)
    sent = {p.paper_pk for p in first.picks[:4]}
    assert not sent & {p.paper_pk for p in again.picks}
    assert {p.paper_pk for p in first.picks[4:6]} <= {p.paper_pk for p in again.picks}, "failed ones may come"
    # the period's own recorded picks do not exclude themselves: rebuilding it gives the same digest
    assert b.build(s, DAY).picks[:4] == first.picks[:4]


def test_build_many_matches_build_and_is_deterministic(world):
    pf = world["pf"]
    subs = [subscribe(pf, f"many{i}@example.org", f, user_id=u)
            for i, (f, u) in enumerate([([Follow("search", "robot*")], None),
                                        ([Follow("author", "nobody at all")], world["fan"]),
                                        ([Follow("search", "graph"), Follow("category", "cs.LG")], None)])]
    items = [(s, DAY) for s in subs] + [(subs[0], Period("2025-12-25", date(2025, 12, 24), date(2025, 12, 25),
                                                          datetime(2025, 12, 25, 7)))]
    many = list(DigestBuilder(pf).build_many(items))
    assert [(d.subscriber.id, d.period.key) for d in many] == [(s.id, p.key) for s, p in items]
    single = [DigestBuilder(pf).build(s, p) for s, p in items]
    assert many == single
    assert list(DigestBuilder(pf).build_many(items)) == many
    assert many[1].picks and {p.section for p in many[1].picks} <= {"trending", "similar"}


def test_normalised_names():
    assert normalise_name("José  Pérez-Ruiz") == normalise_name("jose perez ruiz") == "jose perez ruiz"
    assert normalise_name("Łukasz Kaiser") != normalise_name("Lukas Kaiser")


def test_digest_build_does_not_write(world):
    pf = world["pf"]
    with pf.store.read() as conn:
        before = conn.execute(select(func.count()).select_from(digests)).scalar()
    s = subscribe(pf, "ro@example.org", [Follow("search", "vision")])
    assert DigestBuilder(pf).build(s, DAY).picks
    with pf.store.read() as conn:
        assert conn.execute(select(func.count()).select_from(digests)).scalar() == before


def test_a_saved_search_is_quoted_once_in_its_reason():
    from paperfeed.mail.digest import quoted

    assert quoted("graph neural") == '"graph neural"'
    assert quoted('"gaussian splatting"') == '"gaussian splatting"'  # one phrase: not ""…""
    assert quoted('"gaussian splatting" -survey') == '\u201c"gaussian splatting" -survey\u201d'


def test_for_you_never_repeats_shown_and_never_shows_dismissed(world):
    """Picks logged as shown (what the runner does when the digest is sent) and dismissed papers never
    come back in the next digest's For-you section."""
    from paperfeed.store import signals as signals_sql

    pf = world["pf"]
    u = AccountStore(pf.store).create_user("picky@example.org", "x").id
    with pf.store.write() as conn:
        conn.execute(insert(votes), [{"user_id": u, "paper_pk": pk, "created_at": datetime(2025, 12, 26, 9)}
                                     for pk in world["liked"]])
    s = subscribe(pf, "picky@example.org", [], user_id=u, sections=("similar",))
    d = DigestBuilder(pf).build(s, DAY)
    first = [p.paper_pk for p in d.picks]
    assert len(first) == SECTION_CAP and {p.section for p in d.picks} == {"similar"}
    assert all(p.reason.startswith("because you upvoted \u201c") for p in d.picks)
    signals_sql.mark_shown(pf.store, u, first[:5], "digest")
    assert signals_sql.dismiss(pf.store, u, first[5])
    again = [p.paper_pk for p in DigestBuilder(pf).build(s, DAY).picks]
    assert again and not set(first[:6]) & set(again)
    assert len(again) == SECTION_CAP and set(first[6:]) <= set(again), "the rest are still picked"
