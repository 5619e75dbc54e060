"""arXiv ingestion: Atom API and OAI-PMH parsing, the polite HTTP client, resumable harvests.

Network behaviour (retries, rate limiting, resumption) is tested against a real
HTTP server on 127.0.0.1 that serves documents in arXiv's formats and logs every
request with its arrival time, so the tests check what a server would see.
Nothing here talks to arxiv.org.
"""

from __future__ import annotations

import email.utils
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape, quoteattr

import pytest

from paperfeed.ingestion.arxiv_atom import AtomPage, parse_atom
from paperfeed.ingestion.arxiv_harvest import (
    JsonFileHarvestState,
    category_matches,
    harvest_api,
    harvest_key,
    harvest_oai,
    oai_set_spec,
)
from paperfeed.ingestion.errors import IngestError, RecordError
from paperfeed.ingestion.oai_pmh import OaiError, OaiRecordError, parse_oai, split_authors
from paperfeed.ingestion.polite_http import PoliteClient, parse_retry_after
from paperfeed.models import Paper

# TeX, literal markup (escaped in the XML) and non-ASCII must come out verbatim; only whitespace is folded.
ABSTRACT = "We bound the $\\alpha$-divergence of <b>bold</b> estimators & co.\n  Ünïcödé — résumé, $O(n^2)$."
ABSTRACT_CLEAN = (
    "We bound the $\\alpha$-divergence of <b>bold</b> estimators & co. Ünïcödé — résumé, $O(n^2)$."
)


# --------------------------------------------------------------------------------------------------
# Documents in arXiv's formats
# --------------------------------------------------------------------------------------------------


def atom_entry(
    arxiv_id: str = "2501.01234",
    version: int = 2,
    *,
    title: str | None = "Attention Is\n   Still All You Need",
    summary: str = ABSTRACT,
    authors: tuple[str, ...] = ("Ada Lovelace", "Alan Turing"),
    primary: str = "cs.CL",
    categories: tuple[str, ...] = ("cs.LG", "cs.CL", "I.2.7"),
    doi: str | None = "10.1000/XYZ.123",
    comment: str | None = "12 pages, 3 figures",
    published: str = "2025-01-02T18:59:59Z",
    updated: str = "2025-01-05T10:00:00Z",
) -> str:
    """One <entry> as export.arxiv.org/api/query writes it."""
    parts = [
        "<entry>",
        f"<id>http://arxiv.org/abs/{arxiv_id}v{version}</id>",
        f"<updated>{updated}</updated>",
        f"<published>{published}</published>",
    ]
    if title is not None:
        parts.append(f"<title>{escape(title)}</title>")
    parts.append(f"<summary>  {escape(summary)}\n</summary>")
    parts += [f"<author><name>{escape(a)}</name></author>" for a in authors]
    if doi:
        parts.append(f'<arxiv:doi xmlns:arxiv="http://arxiv.org/schemas/atom">{doi}</arxiv:doi>')
        parts.append(f'<link title="doi" href="http://dx.doi.org/{doi}" rel="related"/>')
    if comment:
        parts.append(
            f'<arxiv:comment xmlns:arxiv="http://arxiv.org/schemas/atom">{escape(comment)}</arxiv:comment>'
        )
    parts += [
        f'<link href="http://arxiv.org/abs/{arxiv_id}v{version}" rel="alternate" type="text/html"/>',
        f'<link title="pdf" href="http://arxiv.org/pdf/{arxiv_id}v{version}" rel="related"'
        ' type="application/pdf"/>',
        f'<arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="{primary}"'
        ' scheme="http://arxiv.org/schemas/atom"/>',
    ]
    parts += [
        f'<category term="{c}" scheme="http://arxiv.org/schemas/atom"/>' for c in (primary, *categories)
    ]
    parts.append("</entry>")
    return "\n".join(parts)


def atom_feed(entries: list[str], total: int, start: int = 0, per_page: int | None = None) -> bytes:
    """A whole API response page."""
    per_page = len(entries) if per_page is None else per_page
    os_ns = 'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"'
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
        '<link href="http://arxiv.org/api/query?search_query%3Dcat%3Acs.CL" rel="self"'
        ' type="application/atom+xml"/>\n'
        '<title type="html">ArXiv Query: search_query=cat:cs.CL&amp;id_list=&amp;start=0</title>\n'
        "<id>http://arxiv.org/api/x1y2z3</id>\n<updated>2025-01-31T00:00:00-05:00</updated>\n"
        f"<opensearch:totalResults {os_ns}>{total}</opensearch:totalResults>\n"
        f"<opensearch:startIndex {os_ns}>{start}</opensearch:startIndex>\n"
        f"<opensearch:itemsPerPage {os_ns}>{per_page}</opensearch:itemsPerPage>\n"
        + "\n".join(entries)
        + "\n</feed>\n"
    ).encode()


def atom_error_feed(message: str) -> bytes:
    """The API's way of reporting a bad query: HTTP 200, one entry with an errors# id."""
    err_id = "http://arxiv.org/api/errors#" + message.replace(" ", "_")
    entry = (
        f"<entry><id>{err_id}</id><title>Error</title><summary>{escape(message)}</summary>"
        "<updated>2025-01-31T00:00:00-05:00</updated>"
        f'<link href="{err_id}" rel="alternate" type="text/html"/>'
        "<author><name>arXiv api core</name></author></entry>"
    )
    return atom_feed([entry], total=1)


def oai_arxiv_record(
    arxiv_id: str,
    *,
    categories: str = "cs.CL cs.LG",
    title: str | None = "Parsing the\n  Unparseable",
    created: str = "2025-01-02",
    updated: str | None = None,
    abstract: str = ABSTRACT,
    doi: str | None = None,
) -> str:
    """A <record> in metadataPrefix=arXiv, as export.arxiv.org/oai2 writes it."""
    meta = [
        '<arXiv xmlns="http://arxiv.org/OAI/arXiv/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        ' xsi:schemaLocation="http://arxiv.org/OAI/arXiv/ http://arxiv.org/OAI/arXiv.xsd">',
        f"<id>{arxiv_id}</id>",
        f"<created>{created}</created>",
    ]
    if updated:
        meta.append(f"<updated>{updated}</updated>")
    meta.append(
        "<authors><author><keyname>Balázs</keyname><forenames>Csaba</forenames></author>"
        "<author><keyname>Smith</keyname><forenames>John</forenames><suffix>Jr</suffix>"
        "<affiliation>MIT</affiliation></author>"
        "<author><keyname>The ATLAS Collaboration</keyname></author></authors>"
    )
    if title is not None:
        meta.append(f"<title>{escape(title)}</title>")
    meta += [f"<categories>{categories}</categories>", "<comments>5 pages</comments>"]
    if doi:
        meta.append(f"<doi>{doi}</doi>")
    meta += [
        "<license>http://creativecommons.org/licenses/by/4.0/</license>",
        f"<abstract>  {escape(abstract)}\n</abstract>",
        "</arXiv>",
    ]
    set_spec = categories.split()[0].split(".")[0]
    return (
        f"<record><header><identifier>oai:arXiv.org:{arxiv_id}</identifier>"
        f"<datestamp>2025-01-06</datestamp><setSpec>{set_spec}</setSpec></header>"
        f"<metadata>{''.join(meta)}</metadata></record>"
    )


def oai_raw_record(
    arxiv_id: str, authors: str, versions: list[tuple[str, str]], categories: str = "cs.CL"
) -> str:
    """A <record> in metadataPrefix=arXivRaw (version history with RFC 2822 dates)."""
    vers = "".join(
        f'<version version="{v}"><date>{d}</date><size>424kb</size><source_type>D</source_type></version>'
        for v, d in versions
    )
    return (
        f"<record><header><identifier>oai:arXiv.org:{arxiv_id}</identifier><datestamp>2025-01-06</datestamp>"
        "<setSpec>cs</setSpec></header><metadata>"
        '<arXivRaw xmlns="http://arxiv.org/OAI/arXivRaw/">'
        f"<id>{arxiv_id}</id><submitter>Pavel Nadolsky</submitter>{vers}"
        "<title>Raw Title</title>"
        f"<authors>{escape(authors)}</authors><categories>{categories}</categories>"
        "<comments>v2: typos fixed</comments><doi>10.1103/PhysRevD.76.013009</doi>"
        f"<abstract>{escape(ABSTRACT)}</abstract></arXivRaw></metadata></record>"
    )


def oai_deleted_record(arxiv_id: str) -> str:
    return (
        f'<record><header status="deleted"><identifier>oai:arXiv.org:{arxiv_id}</identifier>'
        "<datestamp>2025-01-07</datestamp><setSpec>cs</setSpec></header></record>"
    )


def oai_response(
    records: list[str],
    token: str | None = None,
    cursor: int = 0,
    size: int | None = None,
    *,
    last: bool = True,
) -> bytes:
    """A ListRecords page; `last` with no token writes the empty token that ends a multi-page list."""
    if token is not None:
        rt = f'<resumptionToken cursor="{cursor}" completeListSize="{size}">{escape(token)}</resumptionToken>'
    elif last and size is not None:
        rt = f'<resumptionToken cursor="{cursor}" completeListSize="{size}"/>'
    else:
        rt = ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        ' xsi:schemaLocation="http://www.openarchives.org/OAI/2.0/ http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd">\n'
        "<responseDate>2025-01-31T12:00:00Z</responseDate>\n"
        '<request verb="ListRecords" metadataPrefix="arXiv" set="cs">http://export.arxiv.org/oai2</request>\n'
        "<ListRecords>\n" + "\n".join(records) + f"\n{rt}\n</ListRecords>\n</OAI-PMH>\n"
    ).encode()


def oai_error(code: str, message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
        "<responseDate>2025-01-31T12:00:00Z</responseDate>"
        '<request verb="ListRecords">http://export.arxiv.org/oai2</request>'
        f"<error code={quoteattr(code)}>{escape(message)}</error></OAI-PMH>"
    ).encode()


# --------------------------------------------------------------------------------------------------
# A real local HTTP server
# --------------------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Hit:
    at: float  # time.monotonic() when the handler saw the request
    path: str
    params: dict[str, str]


class FakeArxiv:
    """Serves whatever `respond(params)` returns and logs every request (arrival time, query)."""

    def __init__(self) -> None:
        self.respond: Callable[[dict[str, str]], Reply] = lambda params: Reply(404, b"no route")
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                arrived = time.monotonic()
                url = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
                with fake._lock:
                    fake.hits.append(Hit(arrived, url.path, params))
                reply = fake.respond(params)
                self.send_response(reply.status)
                ctype = "application/atom+xml" if b"<feed" in reply.body[:300] else "text/xml"
                self.send_header("Content-Type", f"{ctype}; charset=utf-8")
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def gaps(self) -> list[float]:
        times = [h.at for h in self.hits]
        return [b - a for a, b in zip(times, times[1:], strict=False)]


class Script:
    """Per-key queue of replies: each request takes the next one, the last one repeats."""

    def __init__(self, key: Callable[[dict[str, str]], str], replies: dict[str, list[Reply]]):
        self.key = key
        self.replies = replies

    def __call__(self, params: dict[str, str]) -> Reply:
        queue = self.replies.get(self.key(params))
        if not queue:
            return Reply(400, b"unexpected request " + json.dumps(params).encode())
        return queue.pop(0) if len(queue) > 1 else queue[0]


def oai_key(params: dict[str, str]) -> str:
    return params.get("resumptionToken", "first")


def api_key(params: dict[str, str]) -> str:
    return params.get("start", "?")


@pytest.fixture
def server() -> Iterator[FakeArxiv]:
    fake = FakeArxiv()
    yield fake
    fake.close()


@pytest.fixture
def client() -> Iterator[PoliteClient]:
    with PoliteClient(interval=0.05, max_retries=3, backoff=0.01, timeout=5) as c:
        yield c


# --------------------------------------------------------------------------------------------------
# Atom parsing
# --------------------------------------------------------------------------------------------------


def test_parse_atom_fields_and_paging() -> None:
    feed = atom_feed(
        [
            atom_entry(),
            atom_entry(
                "hep-th/9901001",
                1,
                primary="hep-th",
                categories=("68T50",),
                doi=None,
                comment=None,
                published="1999-01-01T23:30:00-04:00",
                updated="1999-01-01T23:30:00-04:00",
            ),
        ],
        total=1234,
        start=100,
        per_page=2,
    )
    items, page = parse_atom(feed, "http://127.0.0.1/api/query?start=100")
    assert page == AtomPage(total_results=1234, start_index=100, items_per_page=2)
    first, old = items
    assert isinstance(first, Paper) and isinstance(old, Paper)
    assert first.id == first.arxiv_id == "2501.01234"  # version dropped
    assert first.title == "Attention Is Still All You Need"
    assert first.abstract == ABSTRACT_CLEAN  # TeX, literal markup and unicode kept verbatim
    assert first.authors == ["Ada Lovelace", "Alan Turing"]
    assert first.categories == ["cs.CL", "cs.LG"]  # primary first, no duplicate, ACM class dropped
    assert first.published == date(2025, 1, 2) and first.updated == date(2025, 1, 5)
    assert first.doi == "10.1000/xyz.123"
    assert first.comment == "12 pages, 3 figures"
    assert first.sources == ["arxiv-api"]
    assert first.links["abs"] == "https://arxiv.org/abs/2501.01234"
    assert first.links["pdf"] == "https://arxiv.org/pdf/2501.01234"
    assert old.arxiv_id == "hep-th/9901001" and old.categories == ["hep-th"]
    assert old.published == date(1999, 1, 2)  # 23:30 at -04:00 is the next day in UTC
    assert old.doi is None and old.comment is None


def test_parse_atom_malformed_entry_is_a_record_error() -> None:
    feed = atom_feed(
        [
            atom_entry("2501.00001"),
            atom_entry("2501.00002", title=None),
            atom_entry("2501.00003", published="yesterday"),
        ],
        total=3,
    )
    items, _ = parse_atom(feed, "http://127.0.0.1/api/query")
    good, no_title, bad_date = items
    assert isinstance(good, Paper)
    assert isinstance(no_title, RecordError) and isinstance(bad_date, RecordError)
    assert "2501.00002" in no_title.message and "title" in no_title.message
    assert no_title.location.source == "http://127.0.0.1/api/query" and no_title.location.line
    assert "2501.00003" in bad_date.message and "published" in bad_date.message


def test_parse_atom_error_feed_raises() -> None:
    with pytest.raises(IngestError, match="incorrect id format for 1234.12345"):
        parse_atom(atom_error_feed("incorrect id format for 1234.12345"), "http://127.0.0.1/api/query")


def test_parse_atom_rejects_non_feeds() -> None:
    with pytest.raises(IngestError, match="not well-formed"):
        parse_atom(b"<feed xmlns='http://www.w3.org/2005/Atom'><entry>", "u")
    with pytest.raises(IngestError, match="not an Atom feed"):
        parse_atom(oai_response([]), "u")


def test_parse_atom_empty_result() -> None:
    items, page = parse_atom(atom_feed([], total=0), "u")
    assert items == [] and page.total_results == 0


# --------------------------------------------------------------------------------------------------
# OAI-PMH parsing
# --------------------------------------------------------------------------------------------------


def test_parse_oai_arxiv_format() -> None:
    doc = oai_response(
        [
            oai_arxiv_record("2501.00001", updated="2025-01-09", doi="10.1234/ABC.5"),
            oai_deleted_record("2501.00002"),
            oai_arxiv_record("2501.00003", title=None, categories="cs.CL"),
        ],
        token="6960524|1001",
        cursor=0,
        size=2500,
    )
    url = "http://127.0.0.1/oai2?verb=ListRecords"
    items, page = parse_oai(doc, url)
    assert page.resumption_token == "6960524|1001"
    assert (page.cursor, page.complete_list_size, page.records, page.deleted) == (0, 2500, 3, 1)
    paper, err = items
    assert isinstance(paper, Paper)
    assert paper.id == "2501.00001" and paper.title == "Parsing the Unparseable"
    assert paper.authors == ["Csaba Balázs", "John Smith Jr", "The ATLAS Collaboration"]
    assert paper.categories == ["cs.CL", "cs.LG"]
    assert paper.published == date(2025, 1, 2) and paper.updated == date(2025, 1, 9)
    assert paper.abstract == ABSTRACT_CLEAN
    assert paper.doi == "10.1234/abc.5" and paper.comment == "5 pages"
    assert paper.sources == ["arxiv-oai"]
    assert isinstance(err, OaiRecordError) and isinstance(err, RecordError)
    assert "oai:arXiv.org:2501.00003" in err.message and "title" in err.message
    assert err.location.source == url and err.location.line
    assert err.categories == ("cs.CL",)


def test_parse_oai_arxiv_format_without_updated_uses_created() -> None:
    items, page = parse_oai(oai_response([oai_arxiv_record("2501.00001")]), "u")
    assert isinstance(items[0], Paper) and items[0].updated == date(2025, 1, 2)
    assert page.resumption_token is None


def test_parse_oai_arxiv_raw_format() -> None:
    doc = oai_response(
        [
            oai_raw_record(
                "0704.0001",
                "C. Bal\\'azs, E. L. Berger (ANL), P. M. Nadolsky (Southern Methodist U.,\n"
                "  Dallas, TX and ANL) and C.-P. Yuan",
                # out of order on purpose: dates follow version numbers, not document order
                [("v2", "Tue, 24 Jul 2007 20:10:27 GMT"), ("v1", "Mon, 2 Apr 2007 19:18:42 GMT")],
                categories="hep-ph cs.CL",
            ),
            oai_raw_record("2501.00002", "A. One", [("v1", "Fri, 3 Jan 2025 23:59:59 -0500")]),
        ]
    )
    items, _ = parse_oai(doc, "u")
    paper, late = items
    assert isinstance(paper, Paper) and isinstance(late, Paper)
    assert paper.authors == ["C. Bal\\'azs", "E. L. Berger", "P. M. Nadolsky", "C.-P. Yuan"]
    assert paper.published == date(2007, 4, 2) and paper.updated == date(2007, 7, 24)
    assert paper.categories == ["hep-ph", "cs.CL"]
    assert paper.doi == "10.1103/physrevd.76.013009" and paper.comment == "v2: typos fixed"
    assert paper.abstract == ABSTRACT_CLEAN and paper.sources == ["arxiv-oai"]
    assert late.published == late.updated == date(2025, 1, 4)  # UTC day


def test_parse_oai_raw_bad_version_date() -> None:
    items, _ = parse_oai(oai_response([oai_raw_record("2501.00009", "A", [("v1", "not a date")])]), "u")
    assert isinstance(items[0], RecordError) and "2501.00009" in items[0].message


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ("A. Smith and B. Jones", ["A. Smith", "B. Jones"]),
        ("A. Smith, B. Jones, and C. Lee", ["A. Smith", "B. Jones", "C. Lee"]),
        ("Alexander Anderson, Sandra Andrews", ["Alexander Anderson", "Sandra Andrews"]),
        ("A. Smith (1), B. Jones (2) ((1) MIT, Cambridge, (2) ETH and EPFL)", ["A. Smith", "B. Jones"]),
        ("John Smith, Jr., Mary Major", ["John Smith Jr.", "Mary Major"]),
        ("J. Doe (Univ. of X", ["J. Doe (Univ. of X"]),  # unbalanced: keep rather than lose authors
        ("ATLAS Collaboration", ["ATLAS Collaboration"]),
        ("", []),
    ],
)
def test_split_authors(raw: str, names: list[str]) -> None:
    assert split_authors(raw) == names


def test_parse_oai_errors() -> None:
    items, page = parse_oai(oai_error("noRecordsMatch", "No records match"), "u")
    assert items == [] and page.resumption_token is None
    with pytest.raises(OaiError, match="badResumptionToken") as info:
        parse_oai(
            oai_error("badResumptionToken", "The value of the resumptionToken argument is invalid"), "u"
        )
    assert info.value.code == "badResumptionToken" and isinstance(info.value, IngestError)
    with pytest.raises(IngestError, match="not an OAI-PMH response"):
        parse_oai(atom_feed([], 0), "u")


@pytest.mark.parametrize(
    ("category", "set_spec"),
    [
        ("cs.CL", "cs"),
        ("math.AG", "math"),
        ("astro-ph.GA", "physics:astro-ph"),
        ("hep-th", "physics:hep-th"),
        ("math-ph", "physics:math-ph"),
        ("physics.optics", "physics:physics"),
        ("quant-ph", "physics:quant-ph"),
        ("cond-mat.str-el", "physics:cond-mat"),
        ("nlin.AO", "physics:nlin"),
        ("q-bio.NC", "q-bio"),
        ("stat.ML", "stat"),
        ("eess.AS", "eess"),
    ],
)
def test_oai_set_spec(category: str, set_spec: str) -> None:
    assert oai_set_spec(category) == set_spec


def test_oai_set_spec_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        oai_set_spec("cs.CL OR cat:*")
    with pytest.raises(ValueError):
        oai_set_spec("zz.XX")


def test_category_matches() -> None:
    assert category_matches(["cs.LG", "cs.CL"], "cs.CL")
    assert not category_matches(["cs.CLX"], "cs.CL")
    assert category_matches(["hep-th"], "hep-th") and category_matches(["cs.AI"], "cs")
    assert not category_matches(["math-ph"], "math")


# --------------------------------------------------------------------------------------------------
# Polite HTTP client
# --------------------------------------------------------------------------------------------------


def test_retry_after_503_is_honoured(server: FakeArxiv, client: PoliteClient) -> None:
    body = atom_feed([atom_entry()], total=1)
    server.respond = Script(api_key, {"0": [Reply(503, b"busy", {"Retry-After": "1"}), Reply(200, body)]})
    data, _ = client.get_bytes(server.url + "/api/query", {"start": 0})
    assert data == body
    assert len(server.hits) == 2
    assert server.gaps()[0] >= 1.0  # waited the full Retry-After, not our 0.01 s backoff


def test_429_is_retried(server: FakeArxiv, client: PoliteClient) -> None:
    server.respond = Script(
        api_key, {"0": [Reply(429, b"slow down"), Reply(429, b"slow down"), Reply(200, b"ok")]}
    )
    assert client.get(server.url + "/api/query", {"start": 0}).content == b"ok"
    assert len(server.hits) == 3


def test_interval_between_requests(server: FakeArxiv) -> None:
    server.respond = lambda params: Reply(200, b"ok")
    with PoliteClient(interval=0.1, timeout=5) as c:
        for i in range(5):
            c.get(server.url + "/x", {"i": i})
    assert len(server.hits) == 5
    assert min(server.gaps()) >= 0.1


def test_gives_up_after_max_retries_naming_url(server: FakeArxiv) -> None:
    server.respond = lambda params: Reply(502, b"bad gateway")
    with (
        PoliteClient(interval=0.01, max_retries=2, backoff=0.01, timeout=5) as c,
        pytest.raises(IngestError) as info,
    ):
        c.get(server.url + "/oai2", {"verb": "ListRecords", "set": "cs"})
    assert len(server.hits) == 3  # first try + 2 retries
    message = str(info.value)
    assert (
        f"{server.url}/oai2?verb=ListRecords&set=cs" in message
        and "502" in message
        and "3 attempts" in message
    )


def test_client_errors_are_not_retried(server: FakeArxiv, client: PoliteClient) -> None:
    server.respond = lambda params: Reply(404, b"nope")
    with pytest.raises(IngestError, match="404"):
        client.get(server.url + "/missing")
    assert len(server.hits) == 1


def test_connection_errors_are_retried_then_reported() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/query"
    sleeps: list[float] = []
    with (
        PoliteClient(interval=0, max_retries=2, backoff=0.5, timeout=2, sleep=sleeps.append) as c,
        pytest.raises(IngestError, match="ConnectError") as info,
    ):
        c.get(url)
    assert url in str(info.value)
    assert sleeps == [0.5, 1.0]


class FakeTime:
    """A clock that only moves when slept on, so backoff can be checked without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def test_backoff_schedule_and_http_date_retry_after(server: FakeArxiv) -> None:
    wall = 1_750_000_000.0
    later = email.utils.formatdate(wall + 30, usegmt=True)
    server.respond = Script(
        api_key,
        {
            "0": [
                Reply(503),
                Reply(500),
                Reply(503, headers={"Retry-After": later}),
                Reply(504),
                Reply(200, b"ok"),
            ]
        },
    )
    fake = FakeTime()
    with PoliteClient(
        interval=3.0,
        max_retries=5,
        backoff=2.0,
        max_backoff=5.0,
        timeout=5,
        clock=fake.clock,
        sleep=fake.sleep,
        wall_time=lambda: wall,
    ) as c:
        assert c.get(server.url + "/api/query", {"start": 0}).content == b"ok"
        c.get(server.url + "/api/query", {"start": 0})  # the next request waits out the interval
    # backoff 2 (topped up by 1 to the 3 s interval), 4, then the server's date (30 s, beyond
    # max_backoff), then 2*2**3 capped at 5; finally the interval before the next request.
    assert fake.sleeps == [2.0, 1.0, 4.0, 30.0, 5.0, 3.0]
    assert len(server.hits) == 6


def test_excessive_retry_after_gives_up_at_once(server: FakeArxiv) -> None:
    server.respond = lambda params: Reply(503, b"", {"Retry-After": "86400"})
    with (
        PoliteClient(interval=0, max_retry_after=60, sleep=lambda s: None) as c,
        pytest.raises(IngestError, match="retry after 86400s"),
    ):
        c.get(server.url + "/oai2")
    assert len(server.hits) == 1


def test_parse_retry_after() -> None:
    now = 1_750_000_000.0
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(email.utils.formatdate(now + 90, usegmt=True), now) == pytest.approx(90.0)
    assert parse_retry_after(email.utils.formatdate(now - 90, usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None


# --------------------------------------------------------------------------------------------------
# Harvesting
# --------------------------------------------------------------------------------------------------


def three_oai_pages() -> dict[str, list[Reply]]:
    """A 7-record `cs` set over three pages: one deleted, one malformed, one outside cs.CL."""
    return {
        "first": [
            Reply(
                200,
                oai_response(
                    [
                        oai_arxiv_record("2501.00001"),
                        oai_arxiv_record("2501.00002", categories="cs.LG"),
                        oai_arxiv_record("2501.00003", categories="cs.AI cs.CL"),
                    ],
                    token="tok|3",
                    cursor=0,
                    size=7,
                ),
            )
        ],
        "tok|3": [
            Reply(
                200,
                oai_response(
                    [
                        oai_deleted_record("2501.00004"),
                        oai_arxiv_record("2501.00005", title=None, categories="cs.CL"),
                        oai_arxiv_record("2501.00006", title=None, categories="cs.LG"),
                    ],
                    token="tok|6",
                    cursor=3,
                    size=7,
                ),
            )
        ],
        "tok|6": [Reply(200, oai_response([oai_arxiv_record("2501.00007")], cursor=6, size=7))],
    }


def describe(items: list[Paper | RecordError]) -> list[str]:
    return [i.id if isinstance(i, Paper) else f"error:{i.message.split(':')[2]}" for i in items]


def test_harvest_oai_all_pages(server: FakeArxiv, client: PoliteClient, tmp_path: Path) -> None:
    server.respond = Script(oai_key, three_oai_pages())
    state = JsonFileHarvestState(tmp_path / "state.json")
    items = list(
        harvest_oai(server.url + "/oai2", "cs.CL", date(2025, 1, 1), date(2025, 1, 31), client, state)
    )
    # cs.LG-only paper and the cs.LG-only malformed record are filtered out; the deleted one is skipped.
    assert describe(items) == ["2501.00001", "2501.00003", "error:2501.00005", "2501.00007"]
    assert [h.params for h in server.hits] == [
        {
            "verb": "ListRecords",
            "metadataPrefix": "arXiv",
            "set": "cs",
            "from": "2025-01-01",
            "until": "2025-01-31",
        },
        {"verb": "ListRecords", "resumptionToken": "tok|3"},
        {"verb": "ListRecords", "resumptionToken": "tok|6"},
    ]
    assert json.loads((tmp_path / "state.json").read_text()) == {}  # completed harvest leaves no position


def test_harvest_oai_arxiv_raw_and_open_until(server: FakeArxiv, client: PoliteClient) -> None:
    doc = oai_response(
        [oai_raw_record("2501.00001", "A. B and C. D", [("v1", "Thu, 2 Jan 2025 10:00:00 GMT")])]
    )
    server.respond = Script(oai_key, {"first": [Reply(200, doc)]})
    state = MemoryState()
    items = list(
        harvest_oai(server.url + "/oai2", "cs.CL", date(2025, 1, 1), None, client, state, "arXivRaw")
    )
    assert describe(items) == ["2501.00001"]
    assert server.hits[0].params == {
        "verb": "ListRecords",
        "metadataPrefix": "arXivRaw",
        "set": "cs",
        "from": "2025-01-01",
    }


def test_harvest_oai_no_records_match(server: FakeArxiv, client: PoliteClient) -> None:
    server.respond = lambda params: Reply(200, oai_error("noRecordsMatch", "No records match the request"))
    state = MemoryState()
    assert list(harvest_oai(server.url + "/oai2", "hep-th", date(2025, 1, 1), None, client, state)) == []
    assert server.hits[0].params["set"] == "physics:hep-th"
    assert state.writes == [{}]


class MemoryState:
    """The simplest HarvestState, recording every write."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}
        self.writes: list[dict[str, Any]] = []

    def get(self, key: str) -> dict[str, Any] | None:
        return self.data.get(key)

    def set(self, key: str, value: dict[str, Any]) -> None:
        self.writes.append(value)
        self.data[key] = value


def test_harvest_oai_resumes_after_consumer_stops(
    server: FakeArxiv, client: PoliteClient, tmp_path: Path
) -> None:
    server.respond = Script(oai_key, three_oai_pages())
    base, since, until = server.url + "/oai2", date(2025, 1, 1), date(2025, 1, 31)
    gen = harvest_oai(base, "cs.CL", since, until, client, JsonFileHarvestState(tmp_path / "s.json"))
    got = [next(gen) for _ in range(3)]  # all of page 1 and the first item of page 2
    gen.close()  # interrupted half-way through page 2
    assert describe(got) == ["2501.00001", "2501.00003", "error:2501.00005"]
    saved = json.loads((tmp_path / "s.json").read_text())
    key = harvest_key("oai", base, "cs.CL", since, until, "arXiv")
    assert saved[key]["resumption_token"] == "tok|3" and saved[key]["complete_list_size"] == 7

    # A new process: new state object on the same file, new generator.
    rest = list(harvest_oai(base, "cs.CL", since, until, client, JsonFileHarvestState(tmp_path / "s.json")))
    assert describe(rest) == ["error:2501.00005", "2501.00007"]  # page 2 is re-delivered (at-least-once)
    requested = [h.params.get("resumptionToken", "first") for h in server.hits]
    assert requested == ["first", "tok|3", "tok|3", "tok|6"]  # page 1 never fetched again
    assert json.loads((tmp_path / "s.json").read_text()) == {}


def test_harvest_oai_expired_token_restarts(server: FakeArxiv, client: PoliteClient) -> None:
    pages = three_oai_pages()
    pages["stale"] = [Reply(200, oai_error("badResumptionToken", "The resumptionToken has expired"))]
    server.respond = Script(oai_key, pages)
    base, since = server.url + "/oai2", date(2025, 1, 1)
    state = MemoryState()
    state.set(harvest_key("oai", base, "cs.CL", since, None, "arXiv"), {"resumption_token": "stale"})
    items = list(harvest_oai(base, "cs.CL", since, None, client, state))
    assert describe(items) == ["2501.00001", "2501.00003", "error:2501.00005", "2501.00007"]
    assert [oai_key(h.params) for h in server.hits] == ["stale", "first", "tok|3", "tok|6"]


def test_harvest_oai_bad_token_without_saved_state_is_fatal(server: FakeArxiv, client: PoliteClient) -> None:
    pages = three_oai_pages()
    pages["tok|3"] = [Reply(200, oai_error("badResumptionToken", "expired"))]
    server.respond = Script(oai_key, pages)
    with pytest.raises(OaiError, match="badResumptionToken"):
        list(harvest_oai(server.url + "/oai2", "cs.CL", date(2025, 1, 1), None, client, MemoryState()))


def api_pages(total: int = 5, size: int = 2) -> dict[str, list[Reply]]:
    ids = [f"2501.{n:05d}" for n in range(1, total + 1)]
    pages = {}
    for start in range(0, total, size):
        entries = [atom_entry(i, 1) for i in ids[start : start + size]]
        pages[str(start)] = [Reply(200, atom_feed(entries, total=total, start=start, per_page=size))]
    return pages


def test_harvest_api_pages(server: FakeArxiv, client: PoliteClient, tmp_path: Path) -> None:
    server.respond = Script(api_key, api_pages())
    state = JsonFileHarvestState(tmp_path / "state.json")
    items = list(
        harvest_api(
            server.url + "/api/query",
            "cs.CL",
            date(2025, 1, 1),
            date(2025, 1, 31),
            client,
            state,
            page_size=2,
        )
    )
    assert describe(items) == [f"2501.{n:05d}" for n in range(1, 6)]
    assert all(isinstance(i, Paper) and i.sources == ["arxiv-api"] for i in items)
    assert [h.params["start"] for h in server.hits] == ["0", "2", "4"]
    assert server.hits[0].params == {
        "search_query": "cat:cs.CL AND submittedDate:[202501010000 TO 202501312359]",
        "start": "0",
        "max_results": "2",
        "sortBy": "submittedDate",
        "sortOrder": "ascending",
    }
    assert json.loads((tmp_path / "state.json").read_text()) == {}


def test_harvest_api_resumes_after_server_failure(
    server: FakeArxiv, client: PoliteClient, tmp_path: Path
) -> None:
    pages = api_pages()
    healthy_page2 = pages["2"]
    pages["2"] = [Reply(503, b"down for maintenance")]  # fails permanently (for now)
    server.respond = Script(api_key, pages)
    base, since, until = server.url + "/api/query", date(2025, 1, 1), None
    got: list[Paper | RecordError] = []
    with pytest.raises(IngestError) as info:
        for item in harvest_api(base, "cs.CL", since, until, client, JsonFileHarvestState(tmp_path / "s"), 2):
            got.append(item)
    assert describe(got) == ["2501.00001", "2501.00002"]
    assert "start=2" in str(info.value) and "503" in str(info.value)
    saved = json.loads((tmp_path / "s").read_text())
    (value,) = saved.values()
    assert value["start"] == 2 and value["total_results"] == 5
    assert len(server.hits) == 1 + 4  # page 1, then page 2 tried 1 + max_retries times

    pages["2"] = healthy_page2
    rest = list(harvest_api(base, "cs.CL", since, until, client, JsonFileHarvestState(tmp_path / "s"), 2))
    assert describe(rest) == ["2501.00003", "2501.00004", "2501.00005"]
    starts = [h.params["start"] for h in server.hits]
    assert starts == ["0", "2", "2", "2", "2", "2", "4"]  # page 1 fetched once only
    # The open-ended `until` was pinned to the first run's value, so both runs asked the same query.
    assert len({h.params["search_query"] for h in server.hits}) == 1
    assert json.loads((tmp_path / "s").read_text()) == {}


def test_harvest_api_error_feed(server: FakeArxiv, client: PoliteClient) -> None:
    server.respond = lambda params: Reply(200, atom_error_feed("max_results must be at most 2000"))
    with pytest.raises(IngestError, match="max_results must be at most 2000"):
        list(harvest_api(server.url + "/api/query", "cs.CL", date(2025, 1, 1), None, client, MemoryState()))


def test_harvest_api_empty_page_is_retried(server: FakeArxiv, client: PoliteClient) -> None:
    pages = api_pages(total=3, size=2)
    pages["2"] = [Reply(200, atom_feed([], total=3, start=2)), *pages["2"]]  # the API's transient blank page
    server.respond = Script(api_key, pages)
    items = list(
        harvest_api(
            server.url + "/api/query", "cs.CL", date(2025, 1, 1), date(2025, 1, 2), client, MemoryState(), 2
        )
    )
    assert describe(items) == ["2501.00001", "2501.00002", "2501.00003"]
    assert [h.params["start"] for h in server.hits] == ["0", "2", "2"]


def test_harvest_api_no_results(server: FakeArxiv, client: PoliteClient) -> None:
    server.respond = lambda params: Reply(200, atom_feed([], total=0))
    state = MemoryState()
    assert list(harvest_api(server.url + "/api/query", "cs.CL", date(2025, 1, 1), None, client, state)) == []
    assert state.writes == [{}]


# --------------------------------------------------------------------------------------------------
# Harvest state file
# --------------------------------------------------------------------------------------------------


def test_json_file_state(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "harvest.json"
    state = JsonFileHarvestState(path)
    assert state.get("a") is None
    state.set("a", {"start": 100})
    state.set("b", {"resumption_token": "x|1"})
    assert JsonFileHarvestState(path).get("a") == {"start": 100}
    state.set("a", {})
    assert state.get("a") is None and state.get("b") == {"resumption_token": "x|1"}
    assert sorted(p.name for p in path.parent.iterdir()) == ["harvest.json"]  # no temp files left
    path.write_text("{not json")
    with pytest.raises(IngestError, match="not valid JSON"):
        state.get("a")
