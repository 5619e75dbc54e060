"""What every request handler shares: the app's state, the visitor, and rendering helpers."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import URLSafeTimedSerializer
from markupsafe import Markup
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from paperfeed.accounts.sessions import SessionPolicy
from paperfeed.accounts.throttle import LoginThrottle
from paperfeed.core import Paperfeed
from paperfeed.models import Paper
from paperfeed.people.handles import is_placeholder
from paperfeed.present.latex import to_html, to_text
from paperfeed.present.links import code_links, linkify
from paperfeed.present.snippets import first_lines_html, passage_html
from paperfeed.ranking import trending
from paperfeed.ranking.community import Community
from paperfeed.search.hybrid import Result
from paperfeed.search.query import Query
from paperfeed.store import discussion as discussion_sql
from paperfeed.store import notifications as notifications_sql
from paperfeed.store import people as people_sql
from paperfeed.store.accounts import AccountStore, User
from paperfeed.store.secret import site_secret
from paperfeed.urls import member_path, safe_link
from paperfeed.urls import paper_path as paper_url
from paperfeed.web.highlight import highlight
from paperfeed.web.pagecache import CSRF_PLACEHOLDER, PageCache, data_version
from paperfeed.web.security import RateLimiter, csrf_token
from paperfeed.web.settings import WebSettings

TEMPLATES_DIR = Path(__file__).with_name("templates")


def author_url(name: str) -> str:
    """Path of an author's page (`/authors/Yann%20LeCun`; a `/` in a name is encoded, not a separator)."""
    return "/authors/" + quote(" ".join(name.split()), safe="")


def tex(text: str | None, pattern: re.Pattern[str] | None = None) -> Markup:
    """LaTeX as safe HTML (present/latex.py), the query's words marked when a pattern is given."""
    if pattern is None:
        return to_html(text)
    return to_html(text, hook=lambda chunk: highlight(chunk, pattern))


def _templates() -> Jinja2Templates:
    t = Jinja2Templates(directory=str(TEMPLATES_DIR))  # autoescape is on for .html
    t.env.filters["paper_url"] = paper_url
    t.env.filters["safe_href"] = lambda url: safe_link(url) or ""  # outside links: http(s) only (urls.py)
    t.env.filters["author_url"] = author_url
    t.env.filters["member_url"] = member_path  # a member's public profile (web/members.py)
    t.env.tests["chosen_handle"] = lambda h: bool(h) and not is_placeholder(str(h))  # not `member<N>`
    t.env.filters["urlquote"] = lambda s: quote(str(s), safe="")
    t.env.filters["tex"] = tex  # titles, abstracts: HTML with MathML
    t.env.filters["tex_text"] = to_text  # <title>, attributes: plain Unicode
    t.env.filters["first_lines"] = first_lines_html  # a card's abstract
    t.env.filters["passage"] = passage_html  # a search hit's abstract: the matched passage
    t.env.filters["linkify"] = linkify  # an arXiv comment, http(s) URLs as links
    t.env.filters["code_links"] = code_links
    return t


@dataclass
class Entry:
    """A paper as a list shows it."""

    pk: int
    paper: Paper
    votes: int = 0
    voted: bool = False
    submitter: str | None = None
    score: float | None = None
    block: str | None = None
    comments: int = 0  # live comments under the paper (discussion)
    claimed: dict[str, str] = field(default_factory=dict)  # author name as listed -> handle (approved claims)


class WebState:
    def __init__(self, pf: Paperfeed, settings: WebSettings):
        self.pf = pf
        self.settings = settings
        self.community = Community(pf.store)
        self.accounts = AccountStore(pf.store)
        self.sessions = SessionPolicy(self.accounts, timedelta(days=settings.session_idle_days),
                                      timedelta(days=settings.session_max_days))
        self.throttle = LoginThrottle(pf.store, settings.login_free_failures, settings.login_lockout_seconds,
                                      settings.login_lockout_max_seconds)
        self.limiter = RateLimiter(dict(settings.rate_limits), pf.store)
        self.templates = _templates()
        self.pages = PageCache()  # listing pages
        self.paper_pages = PageCache(2048)  # apart, so a crawl over papers cannot push out the lists
        self._searches: PageCache = PageCache(1024)  # result lists, same LRU
        self.api_bodies = PageCache(1024)  # JSON bodies of anonymous API reads (see `cached_json`)
        self._secret: str | None = settings.secret
        self.templates.env.globals["pending_vote"] = self.pending_vote
        self.templates.env.globals["unread_notifications"] = (  # the header's count (web/discussion.py)
            lambda user: notifications_sql.unread_count(pf.store, user.id) if user else 0)

    def signer(self, purpose: str) -> URLSafeTimedSerializer:
        """Signs small tokens with the site secret, one salt per purpose (a pending vote is not a session)."""
        if self._secret is None:
            self._secret = site_secret(self.pf.store)
        return URLSafeTimedSerializer(self._secret, salt=purpose)

    def pending_vote(self, token: str | None) -> Paper | None:
        """The paper a log-in page's `pending=` token would upvote (for the notice), or None."""
        from paperfeed.web.votes import PENDING_MAX_AGE

        if not token or len(token) > 2000:
            return None
        try:
            data = self.signer("pending-vote").loads(token, max_age=PENDING_MAX_AGE)
            return self.pf.store.get(str(data["paper"]))
        except Exception:  # a bad, expired or altered token: no notice
            return None

    def search_count(self, uq: Query) -> int:
        """How many papers hold any word of the query (or pass its filters): the count a results page shows.
        Semantic neighbours that hold none of the words are not counted."""
        key = ("count", repr(uq), self.pf.store.current_seq())

        def count() -> int:
            lx = self.pf.engine.lexical
            lx.ensure_fresh(self.pf.store)
            q = lx.build(uq, "or") if uq.has_text else lx.filter_query(uq)
            n = lx.count(q) if q is not None else 0
            if n == 0 and uq.paper_ref is not None and self.pf.store.pk_of(uq.paper_ref) is not None:
                n = 1  # an arXiv id or URL names the paper shown first (search/exact.py)
            return n

        return self._searches.get_or_render(key, count)

    def search(self, uq: Query, limit: int, offset: int = 0) -> list[Result]:
        """`engine.search`, remembered until the store changes (papers, embeddings: `current_seq`).

        The same searches repeat (feeds, reloads, paging back); results do not depend on votes.
        """
        key = (repr(uq), limit, offset, self.pf.store.current_seq(), *self.pf.engine.index_version())
        return self._searches.get_or_render(key, lambda: self.pf.engine.search(uq, limit=limit, offset=offset))

    def similar(self, paper_id: str, limit: int) -> list[Result]:
        """`engine.similar`, remembered until the store changes; raises KeyError for an unknown paper."""
        key = ("similar", paper_id, limit, self.pf.store.current_seq(), *self.pf.engine.index_version())
        return self._searches.get_or_render(key, lambda: self.pf.engine.similar(paper_id, limit))

    def entries(self, items: list[tuple[int, Paper]], user: User | None) -> list[Entry]:
        pks = [pk for pk, _ in items]
        counts = self.community.vote_counts(pks)
        voted = self.community.voted(user.id if user else None, pks)
        subs = self.community.submitters(pks)
        talk = discussion_sql.comment_counts(self.pf.store, pks)
        claimed = people_sql.claimed_authors_many(self.pf.store, pks) if pks else {}  # one query per page
        return [Entry(pk, p, counts.get(pk, 0), pk in voted, subs.get(pk), comments=talk.get(pk, 0),
                      claimed=claimed.get(pk, {}))
                for pk, p in items]

    def trending(self, period: str, limit: int, offset: int) -> tuple[list[int], int]:
        """Paper pks of one trending page and how many papers trend at all (0: nobody voted)."""
        now = datetime.now(UTC).replace(tzinfo=None)
        votes = self.community.votes_since(now - trending.window(period))
        scores = trending.trending_scores(votes, now, period)
        listed, ids = self.community.listing_facts(list(scores))
        order = trending.rank(scores, listed, ids)
        return order[offset : offset + limit], len(order)


    def by_trending(self, pks: list[int]) -> list[int]:
        """`pks` reordered by trending score over the past month (no votes: keep their order, last)."""
        now = datetime.now(UTC).replace(tzinfo=None)
        wanted = set(pks)
        votes = [(pk, t) for pk, t in self.community.votes_since(now - trending.window("month")) if pk in wanted]
        scores = trending.trending_scores(votes, now, "month")
        listed, ids = self.community.listing_facts(list(scores))
        top = trending.rank(scores, listed, ids)
        return top + [pk for pk in pks if pk not in scores]


def web(request: Request) -> WebState:
    return request.app.state.web


def current_user(request: Request) -> User | None:
    """The member of this request's server-side session (`paperfeed.accounts.sessions`), looked up once."""
    if "user" in request.state._state:
        return request.state.user
    sid = request.session.get("sid")
    user = web(request).sessions.user(sid) if isinstance(sid, str) else None
    if user is None and sid is not None:
        request.session.pop("sid", None)  # revoked or expired: the cookie forgets it
    request.state.user = user
    return user


def client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def render(request: Request, template: str, status_code: int = 200, **ctx: object) -> HTMLResponse:
    user = current_user(request)
    base = {"user": user, "csrf_token": csrf_token(request.session), "q": "", "title": "paperfeed", "feed": None}
    return web(request).templates.TemplateResponse(request, template, {**base, **ctx}, status_code=status_code)


async def render_shared(request: Request, key: tuple, build: Callable[[], tuple[str, dict]],
                        cache: PageCache | None = None) -> HTMLResponse:
    """A listing page: for anonymous visitors from the page cache (see pagecache.py), keyed by `key` and
    the data's version; `build()` returns (template, context) and runs only on a miss or for members,
    in the thread pool (it queries and renders)."""
    if current_user(request) is not None:
        def fresh() -> HTMLResponse:
            template, ctx = build()
            return render(request, template, **ctx)

        return await run_in_threadpool(fresh)
    w = web(request)

    def html() -> str:
        template, ctx = build()
        base = {"request": request, "user": None, "csrf_token": CSRF_PLACEHOLDER, "q": "", "title": "paperfeed",
                "feed": None}
        return w.templates.get_template(template).render({**base, **ctx})

    pages = cache or w.pages
    full_key = (*key, *data_version(w.pf.store))
    page = pages.peek(full_key)
    if page is None:
        page = await run_in_threadpool(pages.get_or_render, full_key, html)
    return HTMLResponse(page.replace(CSRF_PLACEHOLDER, csrf_token(request.session)))


async def cached_json(request: Request, key: tuple, build: Callable[[], BaseModel],
                      on_miss: Callable[[], None] | None = None) -> Response:
    """A JSON read that is the same for every caller (no per-user field): its serialised body is cached
    under `key` and the data's version, like the listing pages, so a hit costs one version query and no
    thread-pool hop.  `build()` (queries, search) runs in the thread pool on a miss, after `on_miss()`
    (e.g. a rate limit that raises 429: only computing costs); the body is what FastAPI would have
    produced from the same response model."""
    w = web(request)
    full_key = (*key, *data_version(w.pf.store))
    body = w.api_bodies.peek(full_key)
    if body is None:
        if on_miss is not None:  # a rate limit is one write transaction: keep it off the event loop
            await run_in_threadpool(on_miss)
        body = await run_in_threadpool(w.api_bodies.get_or_render, full_key,
                                       lambda: build().model_dump_json().encode())
    return Response(body, media_type="application/json")


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    titles = {400: "Bad request", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
              422: "Bad request", 429: "Too many requests"}
    heading = titles.get(status_code, "Something went wrong")
    return render(request, "error.html", status_code=status_code, heading=heading, message=message,
                  title=f"{heading} · paperfeed")
