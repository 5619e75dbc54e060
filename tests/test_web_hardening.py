"""Issue 8 against the real server (uvicorn on 127.0.0.1 with paperfeed's own protocol and middleware):
bounded bodies and heads, slow clients cut off, hosts checked, HEAD answered, costly reads cached and limited.

Raw sockets where httpx would hide what is tested (a head sent byte by byte, a chunked body that never ends).
Every wait has a generous guard (`GUARD` seconds) that is there so a regression fails instead of hanging; no
test asserts how fast anything happened, only what happened.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from datetime import date, datetime
from email import message_from_bytes, policy
from html.parser import HTMLParser
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import HOSTILE, HOSTILE_ID, make_site_pf, run_cli

from paperfeed.mail.links import Links
from paperfeed.mail.model import Digest, Period, Pick, message_id
from paperfeed.mail.render import render_message
from paperfeed.mail.settings import MailSettings
from paperfeed.mail.subscriptions import Prefs, Subscriber
from paperfeed.models import Paper
from paperfeed.present.latex import to_text
from paperfeed.web import WebSettings, create_app
from paperfeed.web.limits import BODY_LIMITS, GuardedHttpToolsProtocol
from paperfeed.web.settings import DEFAULT_RATE_LIMITS
from paperfeed.web.testing import free_port, serve_in_thread

GUARD = 60.0
BASE_URL = "https://papers.example.org"
OLD_PLACEHOLDER = "\x00csrf\x00"  # the page cache's fixed placeholder before issue 8
# Stored as if by an older paperfeed (before ingestion checked anything): render-time checks must hold alone.
PLANTED = Paper(
    id="2510.88888", arxiv_id="2510.88888", title=f"Planted {OLD_PLACEHOLDER} placeholder",
    abstract=f"An abstract with the placeholder {OLD_PLACEHOLDER} in it.", authors=["Mallory"],
    categories=["cs.CR"], listed=date(2025, 10, 1), published=date(2025, 10, 1),
    links={"abs": "javascript:alert(document.cookie)", "pdf": "data:text/html,<script>alert(1)</script>",
           "doi": "https://doi.org/10.1000/ok", "code": f"https://evil.example/steal?{OLD_PLACEHOLDER}"},
    sources=["test"])
# An id that needs percent-encoding in a URL (spaces, '#', '?'), as a DOI-keyed library record can have.
ODD = Paper(id="doi:10.1000/a b#c?d", doi="10.1000/a b#c?d", title="A paper with an awkward id",
            abstract="Plain.", authors=["Ada"], categories=["cs.LG"], listed=date(2025, 10, 1), sources=["test"])


class QuickHeads(GuardedHttpToolsProtocol):
    head_timeout = 1.0  # the production value is 10 s; the behaviour is the same


@pytest.fixture(scope="module")
def pf(tmp_path_factory):
    pf = make_site_pf(tmp_path_factory.mktemp("hardening"))
    with pf.store.write() as conn:  # straight into the store, past ingestion's checks
        pf.store.upsert(conn, [PLANTED, ODD], pf.store.next_seq(conn))
    pf.refresh_keyword_index()
    yield pf
    pf.close()


def settings(**kw) -> WebSettings:  # type: ignore[no-untyped-def]
    return WebSettings(**{"secret": "hardening-secret", "arxiv_api_url": None, "body_timeout": 1.0,
                          "base_url": BASE_URL, **kw})


@pytest.fixture(scope="module")
def base(pf):
    with serve_in_thread(create_app(pf, settings()), http=QuickHeads) as url:
        yield url


def connect(base: str) -> socket.socket:
    u = urlsplit(base)
    s = socket.create_connection((u.hostname, u.port), timeout=GUARD)
    return s


def read_response(s: socket.socket) -> tuple[int, dict[str, str], bytes, bool]:
    """(status, headers, body, closed): reads until the server closes the connection (or GUARD passes)."""
    data = b""
    deadline = time.monotonic() + GUARD
    closed = False
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            closed = True
            break
        except TimeoutError:
            break
        if not chunk:
            closed = True
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0]) if lines and lines[0] else None
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    return (int(m.group(1)) if m else 0), headers, body, closed


def send_slowly(s: socket.socket, data: bytes, pause: float = 0.2) -> bool:
    """Send `data` a byte at a time (for at most GUARD seconds); True when the server answered or hung up
    before the end."""
    deadline = time.monotonic() + GUARD
    for i in range(len(data)):
        if select.select([s], [], [], 0)[0] or time.monotonic() > deadline:
            return time.monotonic() <= deadline
        try:
            s.sendall(data[i : i + 1])
        except (BrokenPipeError, ConnectionResetError):
            return True
        time.sleep(pause)
    return False


# -- bodies ------------------------------------------------------------------------------------------------


def test_a_declared_300_mb_body_is_413_before_any_of_it_is_read(base):
    with connect(base) as s:
        s.sendall(b"POST /api/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 300000000\r\n\r\n")  # and not a byte of the body
        status, headers, body, closed = read_response(s)
    assert status == 413 and headers.get("connection") == "close" and closed
    assert "detail" in json.loads(body)


def test_a_chunked_body_is_counted_as_it_arrives_and_cut_at_the_limit(base):
    chunk = b"x" * 4096
    sent = 0
    with connect(base) as s:
        s.sendall(b"POST /api/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        while sent < 8 * 1024 * 1024 and not select.select([s], [], [], 0.01)[0]:
            try:
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        status, headers, _, closed = read_response(s)
    assert status == 413 and closed
    assert sent < 8 * 1024 * 1024  # refused long before the 8 MB this client was ready to send


def test_limits_are_per_route(base):
    """10 KiB is over the JSON API's limit and under the forms' one."""
    size = 10 * 1024
    assert BODY_LIMITS["json_api"] < size < BODY_LIMITS["forms"]
    with httpx.Client(base_url=base, timeout=GUARD) as c:
        api = c.post("/api/submissions", content=json.dumps({"paper": "x" * size}),
                     headers={"Content-Type": "application/json"})
        form = c.post("/login", data={"email": "a@b.cc", "password": "p", "csrf_token": "nope", "pad": "x" * size})
        page = c.request("GET", "/papers", content=b"x" * (BODY_LIMITS["default"] + 1))
    assert api.status_code == 413 and api.json()["detail"]
    assert form.status_code == 403  # read whole and checked: the CSRF token is wrong
    assert page.status_code == 413


def test_a_chunked_body_that_never_ends_is_408_and_closed(base):
    with connect(base) as s:
        s.sendall(b"POST /api/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"pap\r\n")  # then nothing, for ever
        status, headers, _, closed = read_response(s)
    assert status == 408 and headers.get("connection") == "close" and closed


# -- heads -------------------------------------------------------------------------------------------------


def test_a_head_sent_byte_by_byte_is_cut_off_with_408(base):
    head = b"GET /papers HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 4000 + b"\r\n\r\n"
    with connect(base) as s:
        answered_early = send_slowly(s, head)
        status, _, _, closed = read_response(s)
    assert answered_early and status == 408 and closed


def test_a_connection_that_sends_nothing_is_closed(base):
    with connect(base) as s:
        status, _, _, closed = read_response(s)
    assert closed and status == 408


def test_an_endless_head_is_431_and_closed(base):
    with connect(base) as s:
        s.sendall(b"GET /papers HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for i in range(200):  # 200 x 1 KiB headers: far over the 32 KiB a head may have
            try:
                s.sendall(b"X-H%d: %s\r\n" % (i, b"a" * 1024))
            except (BrokenPipeError, ConnectionResetError):
                break
        status, _, _, closed = read_response(s)
    assert status == 431 and closed


def test_keep_alive_still_works_for_ordinary_clients(base):
    with httpx.Client(base_url=base, timeout=GUARD) as c:
        first = c.get("/papers")
        second = c.get("/api/daily_papers", params={"limit": 1})
    assert first.status_code == 200 and second.status_code == 200


def test_the_real_serve_command_has_the_same_guards(pf, tmp_path):
    """`paperfeed serve --workers 2` (the protocol travels to the worker processes by name), production values."""
    port = free_port()
    env = {**os.environ, "PAPERFEED_DB": str(pf.db_path), "PAPERFEED_ARXIV_API": "", "PAPERFEED_DIGEST_INTERVAL": "0",
           "PAPERFEED_SOURCES": ""}
    with open(tmp_path / "serve.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "paperfeed.cli.main", "serve", "--port", str(port),
                                 "--workers", "2", "--no-embed"], env=env, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{base}/api/status", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        with connect(base) as s:
            s.sendall(b"POST /api/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 300000000\r\n\r\n")
            assert read_response(s)[0] == 413
        with connect(base) as s:  # a head that never ends: cut off at the production 10 s
            s.sendall(b"GET /papers HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            status, _, _, closed = read_response(s)
        assert status == 408 and closed
        assert httpx.head(f"{base}/papers", timeout=GUARD).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)


# -- links, feeds, placeholders ----------------------------------------------------------------------------


class Elements(HTMLParser):
    """Every element and attribute an HTML parser (a browser, a feed reader) makes of some markup."""

    def __init__(self, markup: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.hrefs: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self.tags.append(tag)
        self.attrs.extend(attrs)
        self.hrefs.extend(v or "" for k, v in attrs if k in ("href", "src", "action"))


def test_only_http_links_become_hrefs_on_pages_and_in_the_api(base):
    page = httpx.get(f"{base}/papers/{PLANTED.id}", timeout=GUARD)
    assert page.status_code == 200
    hrefs = Elements(page.text).hrefs
    assert not [h for h in hrefs if h.lower().startswith(("javascript:", "data:"))], hrefs
    assert "https://doi.org/10.1000/ok" in hrefs
    api = httpx.get(f"{base}/api/papers/{PLANTED.id}", timeout=GUARD).json()
    assert api["links"] == {"doi": "https://doi.org/10.1000/ok"}  # javascript:, data: and a NUL-holding URL gone


def test_a_planted_csrf_placeholder_never_prints_a_visitors_token(base):
    """The paper page is cached for anonymous visitors with a placeholder where the CSRF token goes; text
    holding the old fixed placeholder got each visitor's token printed in the title and in links."""
    for _ in range(2):  # the first visit renders and caches, the second is served from the cache
        with httpx.Client(base_url=base, timeout=GUARD) as c:
            html = c.get(f"/papers/{PLANTED.id}").text
        tokens = re.findall(r'name="csrf_token" value="([^"]+)"', html)
        assert tokens and len(set(tokens)) == 1
        assert html.count(tokens[0]) == len(tokens)  # in the forms' hidden fields, nowhere else


def _hostile_rss_item(base: str, path: str, **params: str) -> ET.Element:
    r = httpx.get(f"{base}{path}", params=params, timeout=GUARD)
    assert r.status_code == 200
    return next(i for i in ET.fromstring(r.content).iter("item") if i.findtext("link").endswith(HOSTILE_ID))


@pytest.mark.parametrize("path, params", [("/feeds/daily.rss", {"date": "2025-10-01"}),
                                          ("/feeds/search.rss", {"q": "hostile"})])
def test_rss_text_is_inert_in_a_feed_reader(base, path, params):
    """As a reader does: XML-parse the feed, take description (and title) as HTML, parse that HTML."""
    item = _hostile_rss_item(base, path, **params)
    for field, original in (("description", HOSTILE["abstract"]), ("title", HOSTILE["title"])):
        as_html = item.findtext(field)
        parsed = Elements(as_html)
        assert parsed.tags == [] and parsed.attrs == [], (field, parsed.tags)  # no <script>, <img onerror>, <b>
        text = re.sub(r"&(lt|gt|amp);", lambda m: {"lt": "<", "gt": ">", "amp": "&"}[m.group(1)], as_html)
        assert text == to_text(original)  # the reader shows the text as given, LaTeX as Unicode (present/latex.py)


def test_atom_text_stays_text_once(base):
    ns = {"a": "http://www.w3.org/2005/Atom"}
    doc = ET.fromstring(httpx.get(f"{base}/feeds/daily.atom", params={"date": "2025-10-01"}, timeout=GUARD).content)
    entry = next(e for e in doc.iterfind("a:entry", ns) if e.findtext("a:id", namespaces=ns).endswith(HOSTILE_ID))
    summary = entry.find("a:summary", ns)
    assert summary.get("type") == "text" and summary.text == to_text(HOSTILE["abstract"])
    assert entry.findtext("a:title", namespaces=ns) == to_text(HOSTILE["title"])


def test_feed_links_use_the_base_url_not_the_host_header(base):
    r = httpx.get(f"{base}/feeds/daily.rss", params={"date": "2025-10-01"}, headers={"Host": "localhost"},
                  timeout=GUARD)
    links = [i.findtext("link") for i in ET.fromstring(r.content).iter("item")]
    assert links and all(link.startswith(BASE_URL + "/papers/") for link in links)
    atom = httpx.get(f"{base}/feeds/search.atom", params={"q": "hostile"}, timeout=GUARD).text
    assert f'href="{BASE_URL}/feeds/search.atom?q=hostile"' in atom and "127.0.0.1" not in atom


def test_unknown_hosts_are_refused(base):
    evil = httpx.get(f"{base}/feeds/daily.rss", headers={"Host": "evil.example"}, timeout=GUARD)
    assert evil.status_code == 400
    for host in ("papers.example.org", "localhost", "127.0.0.1:8000"):
        assert httpx.get(f"{base}/papers", headers={"Host": host}, timeout=GUARD).status_code == 200, host


@pytest.mark.parametrize("path", ["/", "/papers", f"/papers/{HOSTILE_ID}", "/papers/trending", "/status",
                                  "/feeds/daily.rss", "/api/daily_papers?limit=2", f"/api/papers/{HOSTILE_ID}",
                                  "/static/site.css"])
def test_head_answers_wherever_get_does(base, path):
    get = httpx.get(f"{base}{path}", timeout=GUARD)
    head = httpx.head(f"{base}{path}", timeout=GUARD)
    assert get.status_code == 200 and head.status_code == 200, (path, head.status_code)
    assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"]
    assert httpx.head(f"{base}/papers/no-such-paper", timeout=GUARD).status_code == 404


def test_digest_links_are_the_sites_links(base, pf):
    """A paper whose id needs percent-encoding: the email links to exactly the address the site uses."""
    page = httpx.get(f"{base}/papers", params={"date": "2025-10-01"}, timeout=GUARD).text
    site_href = next(h for h in Elements(page).hrefs if h.startswith("/papers/doi:") and not h.endswith("/upvote"))
    mail = MailSettings(sender="d@papers.example.org", base_url=BASE_URL)
    sub = Subscriber(1, "r@example.org", None, "active", Prefs(), datetime(2026, 1, 1), datetime(2026, 1, 1), None)
    period = Period("2026-11-24", date(2026, 11, 23), date(2026, 11, 24), datetime(2026, 11, 24, 7))
    msg = render_message(Digest(sub, period, (Pick(1, ODD, "searches", "matches"),)), mail,
                         Links("s", BASE_URL), message_id=message_id(1, period.key, "papers.example.org"),
                         date=period.due_at)
    parsed = message_from_bytes(msg.as_bytes(), policy=policy.default)
    html = parsed.get_body(("html",)).get_content()
    text = parsed.get_body(("plain",)).get_content()
    assert site_href == "/papers/doi:10.1000/a%20b%23c%3Fd"
    assert BASE_URL + site_href in Elements(html).hrefs and BASE_URL + site_href in text


# -- costly reads: cached and rate-limited -------------------------------------------------------------------


def test_similar_papers_are_cached_per_data_version(pf):
    app = create_app(pf, settings())
    bodies = app.state.web.api_bodies
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=GUARD) as c:
        first = c.get(f"/api/papers/{HOSTILE_ID}/similar", params={"limit": 5})
        hits = bodies.hits
        again = c.get(f"/api/papers/{HOSTILE_ID}/similar", params={"limit": 5})
        assert bodies.hits == hits + 1 and again.content == first.content and first.status_code == 200
        assert [p["id"] for p in first.json()] and all("links" in p for p in first.json())
        assert c.get("/api/papers/no-such-paper/similar").status_code == 404


def test_costly_anonymous_reads_are_rate_limited_on_a_miss(pf):
    tight = {**DEFAULT_RATE_LIMITS, "similar": (3, 1e-6), "search": (3, 1e-6), "search_feed": (3, 1e-6)}
    with serve_in_thread(create_app(pf, settings(rate_limits=tight))) as url, \
            httpx.Client(base_url=url, timeout=GUARD) as c:
        for path, vary in ((f"/api/papers/{HOSTILE_ID}/similar", "limit"), ("/api/papers/search", "limit"),
                           ("/feeds/search.rss", "q")):
            def get(i: int, path: str = path, vary: str = vary) -> httpx.Response:
                params = {"q": "language"} if "search" in path else {}
                return c.get(path, params={**params, vary: f"language {i}" if vary == "q" else str(i + 1)})
            answers = [get(i).status_code for i in range(5)]  # five different requests: five misses
            assert answers == [200, 200, 200, 429, 429], (path, answers)
            refused = get(4)
            assert refused.headers.get("retry-after") and "detail" in refused.json()
            assert get(0).status_code == 200, path  # a cached answer costs nothing and is never refused


# -- validation gaps (the real CLI) ---------------------------------------------------------------------------


def test_small_validation_gaps_are_clear_errors(tmp_path):
    db = tmp_path / "v.db"
    for args, expected in (
        (("search", "title:"), "title: at character 1 needs a value right after the colon"),
        (("search", "diffusion title: models"), "title: at character 11 needs a value"),
        (("digest", "subscribe", "a@example.org", "--category", "cs.CL cs.AI"), "follow one category at a time"),
        (("digest", "subscribe", "a@example.org", "--timezone", "localtime"), "unknown time zone 'localtime'"),
    ):
        proc = run_cli(*args, db=db)
        assert proc.returncode == 1 and expected in " ".join(proc.stderr.split()), (args, proc.stderr)
        assert "Traceback" not in proc.stderr
