"""Every page and its JSON twin, through the real ASGI app, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest

from corpus_registry.web.app import ROUTES
from corpus_registry.web.templating import doc_url, identifier_path

from tests.web.site import HOSTILE, RELEASE, XSS, Site

#: Every GET route of the app, with a concrete path and what its page and its JSON must say.
PAGES = [
    ("/", "/", ["web-test", "documents"], lambda j: j["totals"]["documents"] == 16),
    ("/sources", "/sources", ["nltk-genesis", "hostile", "OpenWeb"],
     lambda j: {s["slug"] for s in j["sources"]} == {"nltk-genesis", "hostile"}),
    ("/sources/{slug}", "/sources/hostile", ["Records with hostile", "Ingest runs", "CC-BY-4.0"],
     lambda j: j["source"]["slug"] == "hostile" and len(j["source"]["documents"]["items"]) == 8),
    ("/documents", "/documents?source=hostile&limit=3", ["a/b/c", "Next page"],
     lambda j: len(j["page"]["items"]) == 3 and j["page"]["next"] == "court"),
    ("/documents/{source}/{identifier:path}", "/documents/hostile/a/b/c",
     ["Chemin à trois étages", "Fate in every release", "1.1.0"],
     lambda j: j["document"]["identifier"] == "a/b/c" and len(j["document"]["fates"]) == 2),
    ("/texts/{source}/{identifier:path}", "/texts/hostile/a/b/c", ["Abram"], None),
    ("/search", "/search?q=chemin+trois", ["a/b/c"],
     lambda j: [d["identifier"] for d in j["page"]["items"]] == ["a/b/c"]),
    ("/releases", "/releases", [RELEASE, "1.0.0", "1.1.0"], lambda j: len(j["releases"]) == 2),
    ("/releases/{name}/{version}", f"/releases/{RELEASE}/1.0.0?source=hostile&status=dropped",
     ["Funnel", "Licence mix", "exact duplicate", "too_few_words"],
     lambda j: {f["identifier"] for f in j["fates"]["items"]} == {"plain-1", "court"}),
    ("/releases/{name}/{version}/diff", f"/releases/{RELEASE}/1.1.0/diff?change=removed",
     ["Removed: 1", "dots/../up", "too_few_words"],
     lambda j: j["counts"]["removed"]["documents"] == 1 and j["page"]["items"][0]["identifier"] == "dots/../up"),
    ("/proposals", "/proposals", ["Proposals"], lambda j: j["proposals"] == []),
    ("/takedown", "/takedown?source=hostile&identifier=a/b/c", ["Request a takedown", 'value="a/b/c"'], None),
    ("/login", "/login", ["Log in", "csrf_token"], None),
]
#: GET routes that need an account (see test_authorisation.py for who may see them).
SIGNED_IN = {"/contribute", "/review", "/takedowns", "/account", "/admin/users", "/proposals/{id:int}",
             "/takedowns/{id:int}"}


def test_every_get_route_is_covered() -> None:
    gets = {path for path, _, _, methods, _ in ROUTES if "GET" in methods}
    assert gets == {p for p, *_ in PAGES} | SIGNED_IN


@pytest.mark.parametrize(("route", "path", "shows", "json_ok"), PAGES, ids=[p[0] for p in PAGES])
def test_page_and_its_json(site: Site, route: str, path: str, shows: list[str], json_ok) -> None:
    client = site.client()
    page = client.get(path)
    assert page.status_code == 200, page.text[:500]
    for text in shows:
        assert text in page.text, (path, text)
    if json_ok is None:
        return
    api = client.get("/api" + path if path != "/" else "/api/")
    assert api.status_code == 200 and api.headers["content-type"] == "application/json"
    assert json_ok(api.json()), api.json()


def test_every_hostile_identifier_has_a_working_url(site: Site) -> None:
    client = site.client()
    for identifier, title, _ in HOSTILE:
        url = doc_url("hostile", identifier)
        assert "?" not in url and "#" not in url and " " not in url
        r = client.get("/api" + url)
        assert r.status_code == 200, (identifier, url)
        assert r.json()["document"]["identifier"] == identifier
        assert r.json()["document"]["title"] == title
    assert identifier_path("dots/../up") == "dots%2F..%2Fup"  # a browser would resolve "/../"


def test_document_page_tells_each_fate_and_links_the_duplicate(site: Site) -> None:
    page = site.client().get(doc_url("hostile", "plain-1")).text
    rows = re.findall(r'<tr class="fate fate-(\w+)">(.*?)</tr>', page, re.S)
    assert len(rows) == 2 and {status for status, _ in rows} == {"dropped"}
    assert all("exact_dedup" in row and "exact duplicate" in row for _, row in rows)
    assert f'href="{doc_url("hostile", "copy-of-plain-1")}"' in page
    kept = site.client().get("/api" + doc_url("hostile", "a/b/c")).json()["document"]
    assert [f["status"] for f in kept["fates"]] == ["kept", "kept"]
    assert [r["version"] for r in kept["releases_containing"]] == ["1.0.0", "1.1.0"]


def test_sources_facets_filter_and_count(site: Site) -> None:
    client = site.client()
    data = client.get("/api/sources?license_tier=review").json()
    assert [s["slug"] for s in data["sources"]] == ["nltk-genesis"]
    assert data["sources"][0]["documents"] == 3  # finnish, lolcat, portuguese
    tiers = {f["value"]: f["documents"] for f in data["facets"]["license_tier"]}
    assert tiers["review"] == 3 and tiers["attribution"] == 8  # counted over the other facets
    language = {f["value"] for f in client.get("/api/sources?collection=OpenWeb").json()["facets"]["language"]}
    assert language == {"fr"}


def test_release_page_funnel_mix_and_fate_filters(site: Site) -> None:
    client = site.client()
    data = client.get(f"/api/releases/{RELEASE}/1.0.0").json()
    release = data["release"]
    assert [s["stage"] for s in release["funnel"]][:4] == ["selected", "licence", "withdrawn", "language"]
    assert release["funnel"][-1]["docs_out"] == release["kept"]
    assert release["license_mix_from"] == "manifest"
    assert {m["license"] for m in release["license_mix"]} == {"CC-BY-4.0", "CC-PDM-1.0"}
    by_stage = client.get(f"/api/releases/{RELEASE}/1.0.0?stage=licence").json()["fates"]["items"]
    assert {f["identifier"] for f in by_stage} == {"finnish", "lolcat", "portuguese"}
    page1 = client.get(f"/api/releases/{RELEASE}/1.0.0?limit=5").json()["fates"]
    page2 = client.get(f"/api/releases/{RELEASE}/1.0.0?limit=5&after={page1['next']}").json()["fates"]
    names = [f["identifier"] for f in page1["items"] + page2["items"]]
    assert len(names) == len(set(names)) == 10


def test_keyset_pages_cover_the_list_once(site: Site) -> None:
    client = site.client()
    seen, cursor = [], None
    while True:
        r = client.get("/api/documents", params={"limit": 3, **({"after": cursor} if cursor else {})}).json()
        seen += [(d["source"], d["identifier"]) for d in r["page"]["items"]]
        cursor = r["page"]["next"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 16


def test_bad_parameters_are_400_with_the_field(site: Site) -> None:
    client = site.client()
    r = client.get("/api/documents?license_tier=free")
    assert r.status_code == 400 and r.json()["error"].startswith("license_tier:")
    r = client.get("/api/documents?after=abc")
    assert r.status_code == 400 and "cursor" in r.json()["error"]
    r = client.get("/api/documents?limit=100000")
    assert r.status_code == 400 and "limit" in r.json()["error"]
    assert client.get("/documents?color=red").status_code == 200  # unknown parameters are ignored
    for path in ("/sources/nope", "/documents/hostile/nope", f"/releases/{RELEASE}/9.9.9", "/nope"):
        assert client.get(path).status_code == 404
        r = client.get("/api" + path)
        assert r.status_code == 404 and "error" in r.json()


def test_text_is_plain_text_never_html(site: Site) -> None:
    r = site.client().get("/texts/hostile/xss-title")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_every_answer_carries_the_security_headers(site: Site) -> None:
    client = site.client()
    for path in ("/", "/api/sources", "/nope", "/static/style.css"):
        r = client.get(path)
        assert "script-src" not in r.headers["content-security-policy"]  # default-src 'none': no script at all
        assert "default-src 'none'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY"


def test_titles_are_text_not_markup(site: Site) -> None:
    page = site.client().get(doc_url("hostile", "xss-title")).text
    assert XSS not in page and "<script>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
