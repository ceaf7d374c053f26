"""Hostile input through the real app: markup in every field a contributor (or anyone) can write is
escaped on every page, SQL-looking searches are harmless, forms without their CSRF token are
refused, sign-ins are rate-limited, cookies are signed, HttpOnly and SameSite."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape
from sqlalchemy import text
from starlette.testclient import TestClient

from corpus_registry.registry.search import terms, words
from corpus_registry.web import auth, ratelimit

from tests.web.site import PASSWORD, XSS, Site, csrf_of, login

EVIL_URL = "https://example.org/?q=<script>alert(1)</script>&x=\"'><img src=x onerror=alert(2)>"
JS_URL = "javascript:alert(document.cookie)"


def assert_escaped(page: str, payload: str, where: str) -> None:
    assert payload not in page, f"{where}: the payload is on the page unescaped"
    assert str(escape(payload)) in page, f"{where}: the escaped payload is not on the page"


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def no_live_markup(page: str, where: str) -> None:
    """The page, parsed as a browser would, has no element or attribute a payload could have made."""
    parser = _Markup()
    parser.feed(page)
    for tag, attrs in parser.tags:
        assert tag not in ("script", "img", "iframe", "object", "embed"), (where, tag)
        for name, value in attrs:
            assert not name.startswith("on"), (where, tag, name)
            if name in ("href", "src", "action"):
                assert not (value or "").strip().lower().startswith("javascript:"), (where, tag, value)


def documents_count(site: Site) -> int:
    with site.registry.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM documents")).scalar() or 0)


def test_markup_in_every_contributor_field_is_escaped_everywhere(site: Site) -> None:
    contributor = site.api("contributor")
    source = {"slug": "xss-source", "name": XSS, "collection": "OpenWeb", "license": "CC0-1.0",
              "origin_url": JS_URL, "attribution": XSS + " attribution", "rights_holder": XSS + " holder",
              "review": XSS + " review", "reader": {"kind": "jsonl", "path": XSS}}
    r = contributor.post("/api/contribute/source", json={"source": source, "evidence": EVIL_URL, "comment": XSS})
    assert r.status_code == 201, r.text
    source_id = r.json()["proposal"]["id"]
    r = contributor.post("/api/contribute/correction", json={
        "source": "hostile", "identifier": "xss-title", "license": "CC0-1.0", "evidence": EVIL_URL,
        "comment": XSS + " correction"})
    assert r.status_code == 201, r.text
    correction_id = r.json()["proposal"]["id"]
    r = site.api().post("/api/takedown", json={"source": "hostile", "identifier": "xss-title",
                                                "contact": XSS + " contact", "reason": XSS + " reason"})
    assert r.status_code == 201, r.text
    takedown_id = r.json()["takedown"]["id"]

    reviewer = site.client("reviewer")
    pages = {path: reviewer.get(path) for path in (
        "/proposals", f"/proposals/{source_id}", f"/proposals/{correction_id}", "/review", "/takedowns",
        f"/takedowns/{takedown_id}", "/documents/hostile/xss-title", "/search?q=script+alert", "/sources/hostile",
        "/documents?source=hostile", "/releases/web-test/1.0.0?source=hostile", "/")}
    for path, page in pages.items():
        assert page.status_code == 200, path
        no_live_markup(page.text, path)
    assert_escaped(pages[f"/proposals/{source_id}"].text, XSS, "proposal name/comment")
    assert_escaped(pages[f"/proposals/{source_id}"].text, EVIL_URL, "proposal evidence")
    assert JS_URL in pages[f"/proposals/{source_id}"].text  # shown as text, never as a link
    assert_escaped(pages[f"/proposals/{correction_id}"].text, XSS + " correction", "correction comment")
    assert_escaped(pages[f"/takedowns/{takedown_id}"].text, XSS + " contact", "takedown contact")
    assert_escaped(pages[f"/takedowns/{takedown_id}"].text, XSS + " reason", "takedown reason")
    assert_escaped(pages["/review"].text, XSS + " reason", "review queue")
    assert_escaped(pages["/documents/hostile/xss-title"].text, XSS, "document title")
    # the same text through the API is data, byte for byte
    assert site.api("reviewer").get(f"/api/takedowns/{takedown_id}").json()["takedown"]["reason"] == XSS + " reason"
    # an API token's label is shown once, to its owner, escaped
    browser = site.client("contributor")
    token = csrf_of(browser.get("/account").text)
    shown = browser.post("/account/tokens", data={"label": XSS[:100], "csrf_token": token})
    assert shown.status_code == 201
    no_live_markup(shown.text, "/account/tokens")
    assert_escaped(shown.text, XSS[:100], "token label")


_clients: dict[tuple[int, str | None], TestClient] = {}


def client_of(site: Site, role: str | None) -> TestClient:
    """One API client per site and role for the property tests (a new app per example is slow)."""
    key = (id(site), role)
    if key not in _clients:
        _clients[key] = site.api(role)
    return _clients[key]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reason=st.text(min_size=3, max_size=200).filter(lambda s: len(s.strip()) >= 3 and "\x00" not in s))
def test_any_takedown_reason_is_shown_as_text(site: Site, reason: str) -> None:
    ratelimit.forget(site.registry, "takedowns:address:testclient")
    r = client_of(site, None).post("/api/takedown", json={
        "source": "hostile", "identifier": "a/b/c", "contact": "c@example.org", "reason": reason})
    assert r.status_code == 201, r.text
    page = client_of(site, "reviewer").get(f"/takedowns/{r.json()['takedown']['id']}").text
    assert str(escape(reason.strip())) in page


SQLISH = ["' OR 1=1 --", "'; DROP TABLE documents; --", '" OR ""="', "%", "_", "*", "a*b", "NEAR(a b)",
          "title:x", "AND OR NOT", "(", ")", '"', "\\", "documents_fts MATCH 'x'", "x:* & y", "!!!",
          "1; SELECT pg_sleep(5)", "\u0000", "é' UNION SELECT password_hash FROM web_users --"]


@pytest.mark.parametrize("query", SQLISH)
def test_sql_looking_searches_are_harmless(site: Site, query: str) -> None:
    before = documents_count(site)
    client = site.client()
    for path in ("/search", "/api/search"):
        r = client.get(path, params={"q": query})
        assert r.status_code == 200, (query, r.text[:300])
    found = client.get("/api/search", params={"q": query}).json()["page"]["items"]
    assert all("argon2" not in str(d) for d in found)
    assert documents_count(site) == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.text(max_size=80))
def test_any_search_text_is_answered(site: Site, query: str) -> None:
    r = client_of(site, None).get("/api/search", params={"q": query})
    assert r.status_code == 200
    wanted = terms(query)
    for d in r.json()["page"]["items"]:  # every word is a prefix of a word of identifier/title/creator
        haystack = words(" ".join(filter(None, (d["identifier"], d["title"], d["creator"]))))
        assert all(any(h.startswith(w) for h in haystack) for w in wanted), (wanted, d)


def test_search_finds_by_title_creator_and_identifier_prefix(site: Site) -> None:
    api = site.client()
    assert [d["identifier"] for d in api.get("/api/search?q=chem").json()["page"]["items"]] == ["a/b/c"]
    creators = {d["identifier"] for d in api.get("/api/search?q=MOÏSE").json()["page"]["items"]}
    assert creators == {"plain-1", "copy-of-plain-1"}
    assert [d["identifier"] for d in api.get("/api/search?q=english kjv").json()["page"]["items"]] == ["english-kjv"]


def test_forms_without_their_csrf_token_are_refused(site: Site) -> None:
    before = documents_count(site)
    anonymous = site.client()
    page = anonymous.get("/takedown")  # sets the visitor's CSRF cookie
    fields = {"source": "hostile", "identifier": "a/b/c", "contact": "me@example.org", "reason": "mine"}
    r = anonymous.post("/takedown", data=fields)
    assert r.status_code == 403 and "CSRF" in r.text
    r = anonymous.post("/takedown", data={**fields, "csrf_token": "forged"})
    assert r.status_code == 403
    other = site.client()
    other_token = csrf_of(other.get("/takedown").text)
    assert anonymous.post("/takedown", data={**fields, "csrf_token": other_token}).status_code == 403
    assert anonymous.post("/takedown", data={**fields, "csrf_token": csrf_of(page.text)}).status_code == 201
    # a signed-in reviewer's form, replayed without the token
    reviewer = site.client("reviewer")
    r = reviewer.post("/documents/hostile/a/b/c/withdraw", data={"reason": "no token"})
    assert r.status_code == 403
    assert reviewer.get("/api/documents/hostile/a/b/c").json()["document"]["status"] == "active"
    # the login form too
    fresh = site.client()
    r = fresh.post("/login", data={"name": "reviewer", "password": PASSWORD})
    assert r.status_code == 403 and "cr_session" not in r.headers.get("set-cookie", "")
    # the API with a session cookie needs the token in a header
    r = reviewer.post("/api/documents/hostile/a/b/c/withdraw", json={"reason": "no header"})
    assert r.status_code == 403
    assert reviewer.get("/api/documents/hostile/a/b/c").json()["document"]["status"] == "active"
    # a form-encoded post to the API is not a JSON body
    assert site.api("reviewer").post("/api/takedown", data=fields).status_code == 415
    assert documents_count(site) == before


def test_sign_in_is_rate_limited(site: Site) -> None:
    auth.add_user(site.registry, name="target", role="contributor", password=PASSWORD)
    browser = site.client()
    token = csrf_of(browser.get("/login").text)
    for _ in range(5):
        r = browser.post("/login", data={"name": "target", "password": "wrong password!", "csrf_token": token})
        assert r.status_code == 401 and "Wrong name or password" in r.text
    r = browser.post("/login", data={"name": "target", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "cr_session" not in r.headers.get("set-cookie", "")
    api = site.api().post("/api/login", json={"name": "target", "password": PASSWORD})
    assert api.status_code == 429  # the same counter behind every door
    # another account is not locked out by these failures
    assert site.api().post("/api/login", json={"name": "reviewer", "password": PASSWORD}).status_code == 200


def test_session_cookie_is_signed_httponly_samesite(site: Site) -> None:
    browser = site.client()
    page = browser.get("/login")
    r = browser.post("/login", data={"name": "reviewer", "password": PASSWORD, "csrf_token": csrf_of(page.text),
                                     "next": "//evil.example/steal"})
    assert r.status_code == 303 and r.headers["location"] == "/"  # never an open redirect
    cookie = [c for c in r.headers.get_list("set-cookie") if c.startswith("cr_session=")][0]
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags and "secure" not in flags
    assert browser.get("/review").status_code == 200
    value = browser.cookies["cr_session"]
    browser.cookies.clear()
    browser.cookies.set("cr_session", value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert browser.get("/review").status_code == 401  # a tampered cookie is no session
    # behind a TLS proxy the app sees plain HTTP; Secure cookies come back to it over the browser's HTTPS
    secure = TestClient(site.app(secure_cookies=True), base_url="https://registry.example", follow_redirects=False)
    r = secure.post("/login", data={"name": "reviewer", "password": PASSWORD,
                                    "csrf_token": csrf_of(secure.get("/login").text)})
    assert "secure" in [c for c in r.headers.get_list("set-cookie") if c.startswith("cr_session=")][0].lower()


def test_logout_ends_the_session_on_the_server(site: Site) -> None:
    browser = site.client()
    login(browser, "reviewer")
    stolen = browser.cookies["cr_session"]
    token = csrf_of(browser.get("/review").text)
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 303
    thief = TestClient(site.app(), cookies={"cr_session": stolen})
    assert thief.get("/review").status_code == 401


def test_passwords_are_argon2id_hashes(site: Site) -> None:
    with site.registry.engine.connect() as conn:
        hashes = conn.execute(text("SELECT password_hash FROM web_users")).scalars().all()
    assert hashes and all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)


def test_oversized_bodies_are_refused(site: Site) -> None:
    r = site.api("contributor").post("/api/contribute/correction", content=b"{" + b" " * 300_000 + b"}",
                                      headers={"content-type": "application/json"})
    assert r.status_code == 413
