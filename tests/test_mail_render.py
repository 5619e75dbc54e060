"""render_message: structure, headers, escaping of hostile text, deterministic bytes; `digest preview` CLI."""

from __future__ import annotations

import time
from datetime import date, datetime
from email import message_from_bytes, policy
from urllib.parse import parse_qs, urlparse

import pytest
from conftest import corpus_records, run_cli, write_jsonl
from sqlalchemy import func, select

from paperfeed.mail.links import Links
from paperfeed.mail.model import Digest, Period, Pick, message_id
from paperfeed.mail.render import render_message
from paperfeed.mail.settings import MailSettings
from paperfeed.mail.subscriptions import Prefs, Subscriber
from paperfeed.models import new_paper

SETTINGS = MailSettings(sender="digest@papers.example.org", base_url="https://papers.example.org")
LINKS = Links("test-secret", SETTINGS.base_url)
SUB = Subscriber(7, "reader@example.org", None, "active", Prefs(), datetime(2026, 1, 1), datetime(2026, 1, 1), None)
PERIOD = Period("2026-11-24", date(2026, 11, 23), date(2026, 11, 24), datetime(2026, 11, 24, 7))
HOSTILE = new_paper(
    title="<script>alert('t')</script> Fast & $\\alpha$-divergence <b>transformers</b>",
    abstract="We show <script>alert(1)</script> that $O(n^2)$ \\% bounds hold & <img src=x onerror=alert(2)> "
             "&lt;tag&gt; claims. " + "More words follow here. " * 30,
    authors=["Zoë Müller-Łukasiewicz", "Eve <img src=x onerror=alert(1)>", "渡辺 健"], arxiv_id="2611.00001",
    categories=["cs.LG"], source="test")
PLAIN = new_paper(title="A plain paper", abstract="Short.", authors=["A. Author"], arxiv_id="2611.00002",
                  source="test")


def digest(picks: tuple[Pick, ...] = ()) -> Digest:
    return Digest(SUB, PERIOD, picks)


PICKS = (Pick(1, HOSTILE, "searches", 'matches your search "<script>x</script> & co"'),
         Pick(2, PLAIN, "similar", 'similar to "Ünïcödé & <i>stuff</i>", which you upvoted'))


def render(d: Digest, date_: datetime = PERIOD.due_at):
    return render_message(d, SETTINGS, LINKS, message_id=message_id(SUB.id, d.period.key, SETTINGS.mail_domain),
                          date=date_)


def parts(msg) -> tuple[str, str]:
    parsed = message_from_bytes(msg.as_bytes(), policy=policy.default)
    return parsed.get_body(("plain",)).get_content(), parsed.get_body(("html",)).get_content()


def test_structure_headers_and_links():
    msg = render(digest(PICKS))
    parsed = message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed["Subject"] == "paperfeed digest for Tue 24 Nov: 2 new papers"
    assert parsed["To"] == SUB.email and parsed["From"] == SETTINGS.sender
    assert parsed["Message-ID"] == "<digest.7.2026-11-24@papers.example.org>"
    assert parsed["Date"] == "Tue, 24 Nov 2026 07:00:00 +0000"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsub = parsed["List-Unsubscribe"].strip("<>")
    assert unsub.startswith("https://papers.example.org/unsubscribe?t=")
    assert LINKS.read("unsubscribe", parse_qs(urlparse(unsub).query)["t"][0]) == SUB.id
    text, html = parts(msg)
    manage = LINKS.manage_url(SUB.id, at=PERIOD.due_at)
    for body in (text, html.replace("&amp;", "&")):
        assert unsub in body and manage in body
        assert "https://papers.example.org/papers/2611.00001" in body
    assert LINKS.read("manage", parse_qs(urlparse(manage).query)["t"][0]) == SUB.id
    assert text.index("NEW PAPERS FOR YOUR SAVED SEARCHES") < text.index("FOR YOU")
    # the personal pick, and only it, has a signed "not interested" link for (subscriber, paper), in both parts
    dismiss = LINKS.dismiss_url(SUB.id, 2, at=PERIOD.due_at)
    assert LINKS.read_dismiss(parse_qs(urlparse(dismiss).query)["t"][0]) == (SUB.id, 2)
    for body in (text, html.replace("&amp;", "&")):
        assert body.count("/digest/not-interested?t=") == 1 and dismiss in body


def element_names(html: str) -> tuple[set[str], set[str]]:
    """Every element and attribute name in a document, as a browser's tokenizer sees them."""
    from html.parser import HTMLParser

    tags: set[str] = set()
    attrs: set[str] = set()

    class P(HTMLParser):
        def handle_starttag(self, tag, a):  # type: ignore[no-untyped-def]
            tags.add(tag)
            attrs.update(k for k, _v in a)

    P().feed(html)
    return tags, attrs


def test_hostile_text_is_escaped_and_nothing_remote_or_active():
    text, html = parts(render(digest(PICKS)))
    tags, attrs = element_names(html)
    assert tags <= {"html", "head", "meta", "title", "body", "div", "table", "tr", "td", "h1", "h2", "a", "span",
                    "p", "br"}, tags
    assert not {a for a in attrs if a.startswith("on") or a in ("src", "srcset", "background")}, attrs
    assert "url(" not in html and "@import" not in html
    # LaTeX rendered from escaped parts, math as Unicode (mail clients drop MathML)
    assert '&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt; Fast &amp; <span class="math">α</span>-divergence' in html
    assert ('<span class="math">O(n²)</span> % bounds hold &amp; &lt;img src=x onerror=alert(2)&gt; '
            '&amp;lt;tag&amp;gt;') in html
    assert "Zoë Müller-Łukasiewicz, Eve &lt;img src=x onerror=alert(1)&gt;, 渡辺 健" in html
    assert "matches your search &#34;&lt;script&gt;x&lt;/script&gt; &amp; co&#34;" in html
    assert "Ünïcödé &amp; &lt;i&gt;stuff&lt;/i&gt;" in html
    # the plain-text part carries the text as it is (a text part cannot run anything)
    assert "<script>alert('t')</script> Fast & α-divergence" in text
    assert "Zoë Müller-Łukasiewicz" in text and "渡辺 健" in text
    assert "\u2026" in text  # long abstracts are cut to a snippet
    # every href is a link the reader clicks, never something loaded
    assert all(h.startswith(("https://papers.example.org/", "https://arxiv.org/"))
               for h in (chunk.split('"', 1)[0] for chunk in html.split('href="')[1:]))


def test_same_inputs_same_bytes():
    a = render(digest(PICKS)).as_bytes()
    time.sleep(1.1)  # signed links carry a timestamp: it must come from the digest, not the clock
    assert render(digest(PICKS)).as_bytes() == a
    other = render_message(digest(PICKS), SETTINGS, LINKS, message_id="<other@x>", date=PERIOD.due_at).as_bytes()
    assert other != a
    assert max(len(line) for line in a.splitlines()) <= 998  # RFC 5322 line limit


def test_subject_singular_weekly_and_empty_notice():
    one = render(digest(PICKS[1:]))
    assert one["Subject"] == "paperfeed digest for Tue 24 Nov: 1 new paper"
    weekly = Digest(Subscriber(8, "w@example.org", None, "active", Prefs("weekly", 0), SUB.created_at,
                               SUB.confirmed_at, None),
                    Period("2026-W48", date(2026, 11, 16), date(2026, 11, 23), datetime(2026, 11, 23, 7)), ())
    msg = render(weekly)
    assert msg["Subject"] == "paperfeed weekly digest for Mon 23 Nov: nothing new"
    text, html = parts(msg)
    for body in (text, html):
        assert "No new papers matched your digest" in body and "16 Nov to 22 Nov" in body
        assert "Unsubscribe" in body
    assert "weekly digest" in text


@pytest.fixture(scope="module")
def cli_db(tmp_path_factory):
    from paperfeed.core import Paperfeed
    from paperfeed.ingestion.pipeline import ingest_paths
    from paperfeed.mail.subscriptions import Follow, Subscriptions

    d = tmp_path_factory.mktemp("preview")
    pf = Paperfeed(d / "papers.db")
    ingest_paths(pf.store, [str(write_jsonl(d / "s.jsonl", corpus_records(300, skip=40300)))])
    subs = Subscriptions(pf.store)
    s, _ = subs.subscribe("Preview@Example.org", Prefs(timezone="Europe/Berlin"),
                          follows_=[Follow("search", "language model")])
    subs.confirm(s.id)
    pf.close()
    return d / "papers.db"


def test_cli_preview_prints_the_next_digest_and_records_nothing(cli_db):
    p = run_cli("digest", "preview", "preview@example.org", "--now", "2025-12-29T12:00", db=cli_db, check=True)
    assert "Subject: paperfeed digest for Tue 30 Dec:" in p.stderr
    assert "NEW PAPERS FOR YOUR SAVED SEARCHES" in p.stdout and 'Why: matches your search "language model"' \
        in p.stdout
    h = run_cli("digest", "preview", "preview@example.org", "--now", "2025-12-29T12:00", "--format", "html",
                db=cli_db, check=True)
    assert h.stdout.startswith("<!doctype html>") and "language model" in h.stdout
    from paperfeed.store.papers import Store
    from paperfeed.store.schema import digest_items, digests

    store = Store.open(cli_db)
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(digests)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(digest_items)).scalar() == 0
    store.close()


def test_cli_preview_errors_are_one_line(cli_db):
    for args, needle in ((["nobody@example.org"], "no subscriber with the address 'nobody@example.org'"),
                         (["preview@example.org", "--now", "yesterday"], "is not an ISO date-time"),
                         (["preview@example.org", "--format", "pdf"], "--format must be")):
        p = run_cli("digest", "preview", *args, db=cli_db)
        assert p.returncode == 1, p
        assert p.stderr.strip().count("\n") == 0 and needle in p.stderr and "Traceback" not in p.stderr
