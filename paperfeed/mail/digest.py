"""What goes in a digest: four sections of picks, each with the reason it was chosen, no repeats.

Sections, in this order (a paper appears once per email: the first section that picks it wins):

  trending  papers upvoted during the window's days, scored like the site's trending page
            (time-decayed votes, paperfeed/ranking/trending.py).  With no votes in the window there
            is no trending section: the other sections already carry the new papers, and "the
            newest papers" would hand every subscriber the same ten arbitrary ones.
  searches  new papers (listed in the window) matching a saved search.  Same query language and
            analyzers as `paperfeed search`, evaluated against the window's papers only; a paper
            matches when it holds every word/phrase/prefix (the search's literal blocks; "related"
            papers are left out of an email, where a loose match is noise), filters included.
  follows   new papers by a followed author (names compared with case, accents and punctuation
            folded) or in a followed category (exact, or a prefix: `cs.*`).
  similar   "For you": the personal recommender's picks among the window's new papers
            (paperfeed/recommend/: FeedService.for_members -> recommend_many, the same ranking as the
            site's For-you page), each with the recommender's reason.  Needs a linked account with
            signals (upvotes, saved papers, follows); the stored section name stays `similar`.

Never again: papers in the subscriber's earlier digests (digest_items of digests planned, sending,
sent or retrying, other than this period's own) are left out; the recommender also leaves out papers
the member liked, dismissed ("not interested") or was shown (shown_papers, written when a digest is
sent: runner.py).
Within a section several sources (searches, follows) take turns, so the first search cannot fill
the section alone; each section holds at most SECTION_CAP picks.  Order is fully deterministic.

Scale (`build_many`): everything that does not depend on the subscriber is computed once per
window: the window's papers, a small in-memory keyword index of them, each distinct saved search's
matches, author and category indexes, trending; the personal section is ranked for a chunk of
members at once (recommend_many).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

import numpy as np
import tantivy

from paperfeed.config import MODEL_NAME
from paperfeed.core import Paperfeed
from paperfeed.mail.model import Digest, Period, Pick
from paperfeed.mail.subscriptions import Follow, Subscriber, Subscriptions
from paperfeed.models import Paper
from paperfeed.ranking.community import Community
from paperfeed.ranking.trending import rank, trending_scores
from paperfeed.recommend.service import FeedService
from paperfeed.search.lexical import ANALYZERS, LexicalIndex
from paperfeed.search.query import QueryError, parse_query
from paperfeed.store import ledger as ledger_sql
from paperfeed.store import listings
from paperfeed.store.papers import Store

SECTION_CAP = 10
FOR_YOU_DEPTH = 4 * SECTION_CAP  # ranked per member: enough to fill the section after the other sections
SEARCH_DEPTH = 50  # matches kept per saved search: far more than a section shows, enough to survive dedupe
TRENDING_DEPTH = 200
EXCLUDING_STATUSES = ("planned", "sending", "sent", "retry")
_BUILD_CHUNK = 2000


def normalise_name(name: str) -> str:
    """'José  Pérez-Ruiz', 'jose perez ruiz' and 'J\u00f3s\u00e9 P\u00e9rez Ruiz' compare equal."""
    t = unicodedata.normalize("NFKD", name)
    t = "".join(c for c in t if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", t).split())


def _short(title: str, n: int = 90) -> str:
    title = " ".join(title.split())
    return title if len(title) <= n else title[: n - 1].rstrip() + "\u2026"


# -- reading what the builder needs from the store ---------------------------------------------------------


def earlier_picks(store: Store, current: dict[int, str]) -> dict[int, set[int]]:
    """Paper pks already in each subscriber's earlier digests (any period but `current[sid]`), from
    digest_items of digests that went out or are on their way: the "never again" set."""
    return ledger_sql.earlier_picks(store, current, EXCLUDING_STATUSES)


def stored_vectors(store: Store, pks: Sequence[int]) -> dict[int, np.ndarray]:
    """Unit-length embeddings of the given papers, from the store (papers not embedded are absent)."""
    out: dict[int, np.ndarray] = {}
    for pk, v in store.vectors_of(MODEL_NAME, list(pks)).items():
        n = float(np.linalg.norm(v))
        if n > 0 and np.isfinite(n):
            out[pk] = v / n
    return out


# -- everything about one window that does not depend on the subscriber --------------------------------------



def quoted(query: str) -> str:
    """A saved search as a reason shows it: in quotes, unless it is one quoted phrase already
    (`"gaussian splatting"`, not `""gaussian splatting""`); typographic quotes when it holds some."""
    if query.startswith('"') and query.endswith('"') and query.count('"') == 2:
        return query
    return f"\u201c{query}\u201d" if '"' in query else f'"{query}"'

class WindowText(LexicalIndex):
    """The keyword index of one window's papers, in memory: the same schema, analyzers and query
    building as the site's search, so a saved search means the same thing here."""

    def __init__(self, items: Sequence[tuple[int, Paper]]):
        super().__init__(Path(os.devnull))
        idx = tantivy.Index(self.schema)
        for name, analyzer in ANALYZERS.items():
            idx.register_tokenizer(name, analyzer)
        writer = idx.writer(heap_size=50_000_000, num_threads=1)
        for pk, p in items:
            writer.add_document(self._document(pk, p))
        writer.commit()
        writer.wait_merging_threads()
        idx.reload()
        self._index = idx


@dataclass
class Window:
    start: date
    end: date
    papers: dict[int, Paper]  # listed in the window, plus trending papers from before it
    new_pks: list[int]  # listed in the window, newest listing day first, then paper id
    text: WindowText
    by_author: dict[str, list[int]]
    by_category: dict[str, list[int]]
    trending: list[tuple[int, int]]  # (pk, votes in the window), best first
    vectors: tuple[list[int], np.ndarray | None]  # window pks with an embedding, their unit vectors
    searches: dict[str, list[int]] = field(default_factory=dict)  # query -> matching pks, best first

    def search(self, query: str) -> list[int]:
        hit = self.searches.get(query)
        if hit is None:
            try:
                q = self.text.build(parse_query(query), "and")
            except QueryError:
                q = None  # saved searches were checked when saved; one that no longer parses matches nothing
            hit = [h.pk for h in self.text.search(q, SEARCH_DEPTH)] if self.new_pks else []
            self.searches[query] = hit
        return hit

    def category(self, value: str) -> list[int]:
        v = value.strip().lower()
        if v.endswith("*"):
            prefix = v.rstrip("*")
            lists = [pks for c, pks in self.by_category.items() if c.startswith(prefix)]
            if len(lists) <= 1:
                return lists[0] if lists else []
            keep = set().union(*lists)
            return [pk for pk in self.new_pks if pk in keep]
        return self.by_category.get(v, [])


def load_window(store: Store, start: date, end: date) -> Window:
    new = listings.listed_between(store, start, end)
    new_pks = sorted(new, key=lambda pk: (-(new[pk].listed or start).toordinal(), new[pk].id))
    by_author: dict[str, list[int]] = {}
    by_category: dict[str, list[int]] = {}
    for pk in new_pks:
        for a in dict.fromkeys(normalise_name(a) for a in new[pk].authors):
            by_author.setdefault(a, []).append(pk)
        for c in dict.fromkeys(c.lower() for c in new[pk].categories):
            by_category.setdefault(c, []).append(pk)
    # trending: votes cast during the window's days (UTC), decayed from the window's end
    t0, t1 = datetime.combine(start, time()), datetime.combine(end, time())
    cast = [(pk, t) for pk, t in Community(store).votes_since(t0) if t < t1]
    counts: dict[int, int] = {}
    for pk, _t in cast:
        counts[pk] = counts.get(pk, 0) + 1
    period = "week" if (end - start).days <= 7 else "month"
    scores = trending_scores(cast, t1, period)
    listed, ids = Community(store).listing_facts(list(scores))
    top = rank(scores, listed, ids)[:TRENDING_DEPTH]
    all_papers = dict(new)
    all_papers.update(store.get_many([pk for pk in top if pk not in new]))
    vecs = stored_vectors(store, new_pks)
    vpks = [pk for pk in new_pks if pk in vecs]
    mat = np.stack([vecs[pk] for pk in vpks]).astype(np.float32) if vpks else None
    return Window(start, end, all_papers, new_pks, WindowText([(pk, new[pk]) for pk in new_pks]),
                  by_author, by_category, [(pk, counts[pk]) for pk in top if pk in all_papers], (vpks, mat))


# -- composing one subscriber's digest -----------------------------------------------------------------------


def _round_robin(sources: list[tuple[list[int], str]], taken: set[int], cap: int) -> list[tuple[int, str]]:
    """Picks from several ranked lists in turn (first of each, then second of each, ...), skipping taken."""
    out: list[tuple[int, str]] = []
    cursors = [0] * len(sources)
    while len(out) < cap:
        moved = False
        for i, (pks, reason) in enumerate(sources):
            while cursors[i] < len(pks) and pks[cursors[i]] in taken:
                cursors[i] += 1
            if cursors[i] < len(pks) and len(out) < cap:
                pk = pks[cursors[i]]
                taken.add(pk)
                out.append((pk, reason))
                cursors[i] += 1
                moved = True
        if not moved:
            break
    return out


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def compose(sub: Subscriber, period: Period, w: Window, follows: Sequence[Follow], foryou: Sequence[tuple[int, str]],
            exclude: set[int]) -> Digest:
    """One subscriber's digest from a prepared window and the member's ranked (pk, reason) recommender
    picks (pure: no store access)."""
    wanted = sub.prefs.sections
    taken = set(exclude)
    picks: list[Pick] = []

    def add(section: str, chosen: list[tuple[int, str]]) -> None:
        picks.extend(Pick(pk, w.papers[pk], section, reason) for pk, reason in chosen)

    if "trending" in wanted and w.trending:
        chosen = []
        for pk, n in w.trending:
            if len(chosen) >= SECTION_CAP:
                break
            if pk not in taken:
                taken.add(pk)
                chosen.append((pk, f"trending: {_plural(n, 'upvote')} in this period"))
        add("trending", chosen)
    if "searches" in wanted:
        srcs = [(w.search(f.value), f"matches your search {quoted(f.value)}") for f in follows if f.kind == "search"]
        add("searches", _round_robin(srcs, taken, SECTION_CAP))
    if "follows" in wanted:
        srcs = []
        for f in follows:
            if f.kind == "author":
                srcs.append((w.by_author.get(normalise_name(f.value), []), f"by {f.value}, an author you follow"))
            elif f.kind == "category":
                srcs.append((w.category(f.value), f"new in {f.value}, a category you follow"))
        add("follows", _round_robin(srcs, taken, SECTION_CAP))
    if "similar" in wanted:
        add("similar", [(pk, reason) for pk, reason in foryou if pk not in taken and pk in w.papers][:SECTION_CAP])
    return Digest(sub, period, tuple(picks))


class DigestBuilder:
    """Builds digests; reuse one builder for many subscribers (it caches each window's preparation)."""

    def __init__(self, pf: Paperfeed, feed: FeedService | None = None):
        self.pf = pf
        self.store = pf.store
        self.feed = feed or FeedService(pf.store)
        self._windows: dict[tuple[date, date], Window] = {}

    def window(self, period: Period) -> Window:
        key = (period.window_start, period.window_end)
        if key not in self._windows:
            if len(self._windows) >= 16:
                self._windows.pop(next(iter(self._windows)))
            self._windows[key] = load_window(self.store, *key)
        return self._windows[key]

    def for_you(self, items: Sequence[tuple[Subscriber, Period]], excl: dict[int, set[int]],
                ) -> dict[int, list[tuple[int, str]]]:
        """Subscriber id -> the recommender's ranked (pk, reason) among its window's new papers, for the
        subscribers with a linked account that asked for the section; one batch per window."""
        groups: dict[tuple[date, date], list[Subscriber]] = {}
        for s, p in items:
            if s.user_id is not None and "similar" in s.prefs.sections:
                groups.setdefault((p.window_start, p.window_end), []).append(s)
        out: dict[int, list[tuple[int, str]]] = {}
        for (a, b), subs in groups.items():
            w = self._windows.get((a, b)) or self.window(Period("", a, b, datetime.combine(a, time())))
            ids = [w.papers[pk].id for pk in w.new_pks]
            pk_of = {w.papers[pk].id: pk for pk in w.new_pks}
            exclude = {s.user_id: {w.papers[pk].id for pk in excl.get(s.id, ()) if pk in w.papers}
                       for s in subs if s.user_id is not None}
            ranked = self.feed.for_members([s.user_id for s in subs if s.user_id is not None], ids,
                                           FOR_YOU_DEPTH, exclude)
            for s in subs:
                out[s.id] = [(pk_of[fp.paper_id], fp.reason) for fp in ranked.get(s.user_id or 0, [])
                             if fp.paper_id in pk_of]
        return out

    def build(self, sub: Subscriber, period: Period, follows: Sequence[Follow] | None = None,
              exclude_pks: Iterable[int] | None = None) -> Digest:
        """One digest.  `follows` and `exclude_pks` default to what the store says (follows of the
        subscriber; papers of its earlier digests)."""
        if follows is None:
            follows = Subscriptions(self.store).follows_of([sub.id])[sub.id]
        exclude = (set(exclude_pks) if exclude_pks is not None
                   else earlier_picks(self.store, {sub.id: period.key})[sub.id])
        w = self.window(period)
        foryou = self.for_you([(sub, period)], {sub.id: exclude}).get(sub.id, [])
        return compose(sub, period, w, follows, foryou, exclude)

    def build_many(self, items: Sequence[tuple[Subscriber, Period]]) -> Iterator[Digest]:
        """Digests for many (subscriber, period) pairs, in the order given, a chunk at a time."""
        subs = Subscriptions(self.store)
        for i in range(0, len(items), _BUILD_CHUNK):
            chunk = items[i:i + _BUILD_CHUNK]
            ids = [s.id for s, _p in chunk]
            fol = subs.follows_of(ids)
            excl = earlier_picks(self.store, {s.id: p.key for s, p in chunk})
            for _s, p in chunk:
                self.window(p)
            foryou = self.for_you(chunk, excl)
            for s, p in chunk:
                yield compose(s, p, self.window(p), fol[s.id], foryou.get(s.id, []), excl[s.id])


def last_window_end(store: Store, subscriber_id: int) -> date | None:
    """The end of the newest window the subscriber's recorded digests cover (what the ledger passes to
    the schedule), read-only: previews must not depend on the delivery code being loaded."""
    return ledger_sql.last_window_end(store, [subscriber_id]).get(subscriber_id)


def next_digest(pf: Paperfeed, sub: Subscriber, now: datetime, builder: DigestBuilder | None = None) -> Digest:
    """The digest `sub` will receive next after `now`, built exactly as the runner will build it but
    neither sent nor recorded: what `paperfeed digest preview` and the browser preview show."""
    from paperfeed.mail.schedule import next_period

    period = next_period(sub, now, last_window_end(pf.store, sub.id))
    return (builder or DigestBuilder(pf)).build(sub, period)
