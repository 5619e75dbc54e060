"""Collections over real HTTP (uvicorn + httpx) on SQLite and PostgreSQL: create, save from a paper's page,
remove, privacy (private is a 404 to others everywhere: page, exports, feeds, API; link needs its token; a new
token kills old links), BibTeX/RIS exports that parse back, feeds that parse and escape hostile titles,
library import of every format (malformed and oversized files refused, nothing written), "more like this
collection" with its reasons, and the API."""

from __future__ import annotations

import re
from html import unescape

import bibtexparser
import httpx
import numpy as np
import pytest
import rispy
from account_helpers import csrf, log_in, verified_member
from conftest import HOSTILE, HOSTILE_ID, make_site_pf
from lxml import etree
from shared_vectors import put_shared_embeddings, shared_vectors
from store_backends import BACKENDS

from paperfeed.present.latex import to_text
from paperfeed.store import collections as coll
from paperfeed.store.signals import raw_signals
from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread

ROOMY = {k: (1000, 100.0) for k in ("login", "collection", "library_import", "upvote", "submit")}


@pytest.fixture(scope="module", params=BACKENDS)
def pf(tmp_path_factory, request):
    pf = make_site_pf(tmp_path_factory.mktemp("collections"), request.param)
    with pf.store.read() as conn:
        from sqlalchemy import select

        from paperfeed.store.schema import papers

        ids = list(conn.execute(select(papers.c.id)).scalars())
    put_shared_embeddings(pf, ids)
    yield pf
    pf.close()


@pytest.fixture(scope="module")
def base(pf):
    settings = WebSettings(secret="test-secret", rate_limits=ROOMY, arxiv_api_url=None, mail=None)
    with serve_in_thread(create_app(pf, settings)) as url:
        yield url


_n = iter(range(10_000))


def member(pf, base):
    email = f"reader{next(_n)}@coll.example"
    user = verified_member(pf.store, email)
    c = httpx.Client(base_url=base, timeout=60)
    assert log_in(c, email).status_code == 303
    return user, c


def some_ids(pf, n, skip=0):
    with pf.store.read() as conn:
        from sqlalchemy import select

        from paperfeed.store.schema import papers

        return list(conn.execute(select(papers.c.id).where(papers.c.arxiv_id.is_not(None))
                                 .order_by(papers.c.pk).offset(skip).limit(n)).scalars())


def create(c, name, visibility="private"):
    r = c.post("/collections", data={"name": name, "visibility": visibility, "csrf_token": csrf(c, "/collections")})
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def save(c, cid, paper_id):
    r = c.post("/collections/add", data={"paper_id": paper_id, "collection": str(cid),
                                         "next": f"/papers/{paper_id}", "csrf_token": csrf(c, f"/papers/{paper_id}")})
    assert r.status_code == 303, r.text


def test_create_save_from_paper_page_remove_rename_delete(pf, base):
    user, c = member(pf, base)
    cid = create(c, "Reading group")
    ids = some_ids(pf, 3)
    for pid in ids:
        save(c, cid, pid)
    page = c.get(f"/papers/{ids[0]}").text
    assert 'action="/collections/add"' in page and "(saved)" in page and f'href="/collections/{cid}"' in page
    r = c.get(f"/collections/{cid}")
    assert r.status_code == 200 and all(f'href="/papers/{pid}"' in r.text for pid in ids)
    assert coll.item_ids(pf.store, cid) == ids
    # no CSRF token: refused, nothing changed
    assert c.post(f"/collections/{cid}/remove", data={"paper_id": ids[0]}).status_code == 403
    assert c.post(f"/collections/{cid}/remove",
                  data={"paper_id": ids[0], "csrf_token": csrf(c, f"/collections/{cid}")}).status_code == 303
    assert coll.item_ids(pf.store, cid) == ids[1:]
    # saved papers are likes for the recommender
    liked = {pid: (kind, name) for pid, kind, name in raw_signals(pf.store, user.id).liked}
    assert liked[ids[1]] == ("saved", "Reading group") and ids[0] not in liked
    # a new collection straight from the picker
    r = c.post("/collections/add", data={"paper_id": ids[0], "new_name": "  Later  ", "next": "/collections",
                                         "csrf_token": csrf(c)})
    assert r.status_code == 303
    later = coll.named(pf.store, user.id, "Later")
    assert later is not None and coll.item_ids(pf.store, later.id) == [ids[0]]
    # duplicate name, rename, delete needs the confirm box
    dup = c.post("/collections", data={"name": "Later", "visibility": "private", "csrf_token": csrf(c)})
    assert dup.status_code == 409
    assert c.post(f"/collections/{later.id}/rename", data={"name": "Reading group", "csrf_token": csrf(c)}
                  ).status_code == 409
    assert c.post(f"/collections/{later.id}/rename", data={"name": "Soon", "csrf_token": csrf(c)}).status_code == 303
    assert coll.get(pf.store, later.id).name == "Soon"
    assert c.post(f"/collections/{later.id}/delete", data={"csrf_token": csrf(c)}).status_code == 400
    assert coll.get(pf.store, later.id) is not None
    assert c.post(f"/collections/{later.id}/delete", data={"confirm": "yes", "csrf_token": csrf(c)}).status_code == 303
    assert coll.get(pf.store, later.id) is None
    assert "Reading group" in c.get("/collections").text
    # an unknown paper, a bad visibility: clear 4xx
    assert c.post("/collections/add", data={"paper_id": "9999.99999", "collection": str(cid),
                                            "csrf_token": csrf(c)}).status_code == 404
    assert c.post("/collections", data={"name": "x", "visibility": "secret", "csrf_token": csrf(c)}).status_code == 400


def test_privacy_private_404_link_token_and_regenerate(pf, base):
    owner, c = member(pf, base)
    _, other = member(pf, base)
    anon = httpx.Client(base_url=base, timeout=60)
    cid = create(c, "Secret list")
    save(c, cid, some_ids(pf, 1)[0])
    paths = [f"/collections/{cid}", *(f"/collections/{cid}.{x}" for x in ("bib", "ris", "atom", "rss"))]
    for path in paths:
        assert c.get(path).status_code == 200, path
        for who in (anon, other):
            r = who.get(path)
            assert r.status_code == 404, path
    missing = anon.get("/collections/999999")
    assert missing.status_code == 404 and anon.get(f"/collections/{cid}").text.count("No such collection") == \
        missing.text.count("No such collection")  # private looks exactly like missing
    # other members cannot act on it either (404, not 403)
    assert other.post(f"/collections/{cid}/visibility", data={"visibility": "public", "csrf_token": csrf(other)}
                      ).status_code == 404
    assert other.post(f"/collections/{cid}/delete", data={"confirm": "yes", "csrf_token": csrf(other)}
                      ).status_code == 404
    assert coll.get(pf.store, cid).visibility == "private"
    # link: the share link works, without or with a wrong token it does not
    assert c.post(f"/collections/{cid}/visibility", data={"visibility": "link", "csrf_token": csrf(c)}
                  ).status_code == 303
    page = c.get(f"/collections/{cid}").text
    share = unescape(re.search(r'id="share" class="share" readonly value="([^"]+)"', page).group(1))
    token = share.split("token=", 1)[1]
    for path in paths:
        assert anon.get(path).status_code == 404, path
        assert anon.get(path, params={"token": token[:-1] + "x"}).status_code == 404
        assert anon.get(path, params={"token": token}).status_code == 200, path
    shared = anon.get(f"/collections/{cid}", params={"token": token}).text
    assert f"/collections/{cid}.atom?token=" in shared and "Manage" not in shared
    # a new token: the old link is dead, the new one works
    assert c.post(f"/collections/{cid}/visibility", data={"regenerate": "yes", "csrf_token": csrf(c)}
                  ).status_code == 303
    new = coll.get(pf.store, cid).share_token
    assert new != token
    assert anon.get(f"/collections/{cid}.rss", params={"token": token}).status_code == 404
    assert anon.get(f"/collections/{cid}.rss", params={"token": new}).status_code == 200
    # public: anyone, no token
    assert c.post(f"/collections/{cid}/visibility", data={"visibility": "public", "csrf_token": csrf(c)}
                  ).status_code == 303
    assert all(anon.get(p).status_code == 200 for p in paths)
    assert [x.id for x in coll.public_of(pf.store, owner.id)] == [cid]


def test_exports_parse_back_and_feeds_escape_hostile_titles(pf, base):
    _, c = member(pf, base)
    cid = create(c, "Hostile & friends")
    ids = [HOSTILE_ID, *some_ids(pf, 2, skip=10)]
    for pid in ids:
        save(c, cid, pid)
    bib = c.get(f"/collections/{cid}.bib")
    assert bib.headers["content-type"].startswith("application/x-bibtex")
    assert bib.headers["content-disposition"] == 'attachment; filename="hostile-friends.bib"'
    lib = bibtexparser.parse_string(bib.text)
    assert not lib.failed_blocks
    assert sorted(e.fields_dict["eprint"].value for e in lib.entries) == sorted(ids)
    assert len({e.key for e in lib.entries}) == 3
    ris = c.get(f"/collections/{cid}.ris")
    assert ris.headers["content-type"].startswith("application/x-research-info-systems")
    recs = rispy.loads(ris.text)
    by_note = {r["notes"][0].removeprefix("arXiv:"): r for r in recs}
    assert sorted(by_note) == sorted(ids)
    assert by_note[HOSTILE_ID]["title"] == " ".join(HOSTILE["title"].split())
    atom = etree.fromstring(c.get(f"/collections/{cid}.atom").content)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    assert atom.findtext("a:title", namespaces=ns) == "paperfeed collection: Hostile & friends"
    titles = [t.text for t in atom.findall("a:entry/a:title", ns)]
    assert to_text(HOSTILE["title"]) in titles and len(titles) == 3
    rss = c.get(f"/collections/{cid}.rss")
    assert rss.headers["content-type"].startswith("application/rss+xml")
    items = etree.fromstring(rss.content).findall("channel/item/title")
    hostile = [i.text for i in items if "alert" in i.text]
    assert hostile and "<script>" not in hostile[0] and "&lt;script&gt;" in hostile[0]  # text, not markup


def test_export_of_titles_with_nul_braces_and_latex_specials(pf, base):
    from paperfeed.ingestion.pipeline import ingest_records
    from paperfeed.models import new_paper

    nasty = new_paper(title="Brace } and {unclosed, 100% & #1 $x_1$ \\ end", abstract="ab\x00stract",
                      arxiv_id="2510.88888", source="test", authors=["Nul\x00 Person"], categories=["cs.LG"])
    nasty.title += "\x00"  # past new_paper's cleaning: the writers must cope on their own
    assert not ingest_records(pf.store, [nasty], "test").failure
    _, c = member(pf, base)
    cid = create(c, "Nasty")
    save(c, cid, "2510.88888")
    text = c.get(f"/collections/{cid}.bib").text
    assert "\x00" not in text
    entry = bibtexparser.parse_string(text).entries
    assert len(entry) == 1 and entry[0].fields_dict["eprint"].value == "2510.88888"
    assert "100\\% \\& \\#1" in entry[0].fields_dict["title"].value
    ris = c.get(f"/collections/{cid}.ris").text
    assert "\x00" not in ris and len(rispy.loads(ris)) == 1


def bib_file(known: str) -> str:
    return f"""
@misc{{known, title = {{Whatever the library calls it}}, eprint = {{{known}}}, archivePrefix = {{arXiv}},
  author = {{Doe, Jane}}, year = {{2025}}}}

@article{{new_one, title = {{A Journal Paper Nobody Ingested Yet}}, doi = {{10.1234/coll.0001}},
  author = {{Roe, Richard}}, journal = {{J. Tests}}, year = {{2019}}}}
"""


def upload(c, filename, data, **fields):
    return c.post("/import", data={"csrf_token": csrf(c, "/import"), **fields},
                  files={"file": (filename, data, "application/octet-stream")})


def test_import_every_format_into_a_collection(pf, base):
    user, c = member(pf, base)
    known = some_ids(pf, 4, skip=40)
    before = pf.store.count()
    r = upload(c, "My Library.bib", bib_file(known[0]).encode())
    assert r.status_code == 200, r.text
    assert "Saved 2 papers in" in r.text and "1 new to this site" in r.text
    imported = coll.named(pf.store, user.id, "Imported library")
    assert imported is not None and pf.store.count() == before + 1
    assert set(coll.item_ids(pf.store, imported.id)) == {known[0], "doi:10.1234/coll.0001"}
    ris = (f"TY  - JOUR\nTI  - Something\nUR  - https://arxiv.org/abs/{known[1]}\nER  - \n\n"
           "TY  - JOUR\nTI  - Another New Paper Only In RIS\nDO  - 10.1234/coll.0002\nER  - \n")
    r = upload(c, "export.ris", ris.encode(), name="Zotero")
    assert r.status_code == 200 and "Saved 2 papers" in r.text
    zotero = coll.named(pf.store, user.id, "Zotero")
    assert set(coll.item_ids(pf.store, zotero.id)) == {known[1], "doi:10.1234/coll.0002"}
    csv = f'Key,Item Type,Title,Url,Author\nK1,preprint,"A title",https://arxiv.org/abs/{known[2]},"Doe, Jane"\n'
    r = upload(c, "zotero.csv", csv.encode(), name="Zotero")
    assert r.status_code == 200 and "1 new to it" in r.text
    assert known[2] in coll.item_ids(pf.store, zotero.id)
    # pasted ids and links; one the store lacks is reported, nothing is fetched
    r = c.post("/import", data={"csrf_token": csrf(c, "/import"), "name": "Pasted",
                                "ids": f"{known[3]}\nhttps://arxiv.org/abs/{known[2]}v2, arXiv:2512.99999"})
    assert r.status_code == 200, r.text
    assert "Not found locally (1): 2512.99999" in r.text
    assert coll.item_ids(pf.store, coll.named(pf.store, user.id, "Pasted").id) == [known[3], known[2]]
    liked = {pid for pid, _, _ in raw_signals(pf.store, user.id).liked}
    assert {known[0], known[1], known[2], known[3]} <= liked  # the library counts as interests
    from paperfeed.store.signals import export_signals

    assert [i["format"] for i in export_signals(pf.store, user.id)["imports"]] == ["bibtex", "ris", "csv", "arxiv"]


def test_import_refuses_malformed_and_huge_files_writing_nothing(pf, base):
    user, c = member(pf, base)
    before = pf.store.count()
    broken = bib_file(some_ids(pf, 1)[0]) + "\n@article{broken_2020,\n  title = {Unclosed,\n  year = 2020\n"
    r = upload(c, "broken.bib", broken.encode())
    assert r.status_code == 400 and "broken_2020" in r.text and "nothing was imported" in r.text
    assert re.search(r"broken\.bib:\d+", r.text)
    r = upload(c, "cut.ris", b"TY  - JOUR\nTI  - No end\n")
    assert r.status_code == 400 and "cut.ris:1" in r.text and "not terminated" in r.text
    r = c.post("/import", data={"csrf_token": csrf(c, "/import"), "ids": "2501.00001\nnot-an-id"})
    assert r.status_code == 400 and "list:2" in r.text and "not-an-id" in r.text
    r = upload(c, "binary.bib", b"\x00\x01\x02\xff\xfe" * 100)
    assert r.status_code == 400
    assert pf.store.count() == before and coll.of_user(pf.store, user.id) == []
    huge = b"@misc{x, title={" + b"a" * (3 * 1024 * 1024) + b"}}"
    r = upload(c, "huge.bib", huge)
    assert r.status_code == 413 and "limit" in r.text
    assert c.post("/import", data={"ids": "2501.00001"}).status_code == 403  # no CSRF token
    assert httpx.get(f"{base}/import", follow_redirects=False).status_code == 303  # log in first
    assert pf.store.count() == before and coll.of_user(pf.store, user.id) == []


def test_more_like_this_collection_names_the_collection(pf, base):
    _, c = member(pf, base)
    vecs = shared_vectors()
    with pf.store.read() as conn:
        from sqlalchemy import select

        from paperfeed.store.schema import papers

        listed = [pid for pid, day in conn.execute(select(papers.c.id, papers.c.listed)) if pid in vecs and day]
    m = np.stack([vecs[p] / np.linalg.norm(vecs[p]) for p in listed])
    sims = m @ m.T
    np.fill_diagonal(sims, 0)
    target = int(np.argmax((sims >= 0.55).sum(axis=1)))
    near = [listed[j] for j in np.argsort(-sims[target])[:5]]
    cid = create(c, "Reading group")
    for pid in near:
        save(c, cid, pid)
    page = c.get(f"/collections/{cid}").text
    like = page.split('id="like-h"', 1)[1]
    reasons = re.findall(r'<p class="reason">([^<]+)</p>', like)
    assert reasons, like[:2000]
    assert any(re.fullmatch(r"like \d+ papers in Reading group", r) for r in reasons), reasons
    shown = set(re.findall(r'<a href="/papers/([^"]+)">', like))
    assert shown and not shown & set(near)  # its own papers are not recommended back


def test_collections_api(pf, base):
    owner, c = member(pf, base)
    other, _ = member(pf, base)
    w_token, r_token, o_token = "pf_" + "w" * 40 + str(owner.id), "pf_" + "r" * 40 + str(owner.id), \
        "pf_" + "o" * 40 + str(other.id)
    from paperfeed.store.accounts import AccountStore

    accounts = AccountStore(pf.store)
    accounts.create_token(owner.id, "w", w_token, "write", None)
    accounts.create_token(owner.id, "r", r_token, "read", None)
    accounts.create_token(other.id, "o", o_token, "write", None)
    cid = create(c, "API list")
    api = httpx.Client(base_url=base, timeout=60)

    def auth(t):
        return {"Authorization": f"Bearer {t}"}

    assert api.get("/api/collections").status_code == 401
    listed = api.get("/api/collections", headers=auth(r_token)).json()
    assert [x["name"] for x in listed] == ["API list"] and listed[0]["size"] == 0
    pid = some_ids(pf, 1, skip=60)[0]
    assert api.post(f"/api/collections/{cid}/items", json={"paper_id": pid}, headers=auth(r_token)).status_code == 403
    assert api.post(f"/api/collections/{cid}/items", json={"paper_id": pid}, headers=auth(o_token)).status_code == 404
    r = api.post(f"/api/collections/{cid}/items", json={"paper_id": pid}, headers=auth(w_token))
    assert r.status_code == 201 and r.json() == {"collection": cid, "paper_id": pid, "saved": True, "changed": True}
    again = api.post(f"/api/collections/{cid}/items", json={"paper_id": pid}, headers=auth(w_token))
    assert again.status_code == 200 and again.json()["changed"] is False
    assert api.post(f"/api/collections/{cid}/items", json={"paper_id": "0000.00000"},
                    headers=auth(w_token)).status_code == 404
    one = api.get(f"/api/collections/{cid}", headers=auth(r_token)).json()
    assert [p["id"] for p in one["papers"]] == [pid] and one["visibility"] == "private"
    assert api.get(f"/api/collections/{cid}").status_code == 404  # private: anonymous
    assert api.get(f"/api/collections/{cid}", headers=auth(o_token)).status_code == 404  # private: another member
    assert api.get(f"/api/collections/{cid}", headers=auth("pf_bogus")).status_code == 401
    coll.set_visibility(pf.store, cid, "link")
    token = coll.get(pf.store, cid).share_token
    assert api.get(f"/api/collections/{cid}").status_code == 404
    assert api.get(f"/api/collections/{cid}", params={"token": token}).json()["papers"][0]["id"] == pid
    assert api.delete(f"/api/collections/{cid}/items/{pid}", headers=auth(o_token)).status_code == 404
    d = api.delete(f"/api/collections/{cid}/items/{pid}", headers=auth(w_token))
    assert d.status_code == 200 and d.json()["changed"] is True and coll.item_ids(pf.store, cid) == []
