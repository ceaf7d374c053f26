"""Who may do what: every role × every action through the real app. A forbidden action is refused
(401 for an anonymous visitor, 403 for a signed-in one) and changes nothing in the database."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import inspect, text

from corpus_registry.web import contributions
from corpus_registry.web.auth import PERMISSIONS, Role
from corpus_registry.web.contributions import CorrectionIn, SourceProposalIn, TakedownIn

from tests.web.site import PASSWORD, Site, csrf_of, login

_numbers = itertools.count()
ROLE_NAMES = [None, "contributor", "reviewer", "admin"]
SOURCE = {"slug": "proposed-src", "name": "A proposed source", "collection": "OpenWeb", "license": "CC0-1.0",
          "reader": {"kind": "jsonl", "path": "proposed"}}


def state(site: Site) -> str:
    """A digest of every row of every table (the rate limiter's counters aside)."""
    digest = hashlib.sha256()
    with site.registry.engine.connect() as conn:
        for table in sorted(inspect(conn).get_table_names()):
            if table in ("web_rate_events", "alembic_version") or table.startswith("documents_fts"):
                continue
            columns = ", ".join(f'"{c["name"]}"' for c in inspect(conn).get_columns(table))
            for row in sorted(repr(tuple(r)) for r in conn.execute(text(f'SELECT {columns} FROM "{table}"'))):
                digest.update(f"{table}:{row}".encode())
    return digest.hexdigest()


def new_proposal(site: Site) -> int:
    user = site.registry.engine.connect().execute(text("SELECT id FROM web_users WHERE name='contributor'")).scalar()
    return contributions.propose_correction(site.registry, CorrectionIn(
        source="hostile", identifier="a/b/c", license="CC0-1.0", evidence="https://example.org/licence"), by=user)


def new_source_proposal(site: Site) -> int:
    user = site.registry.engine.connect().execute(text("SELECT id FROM web_users WHERE name='contributor'")).scalar()
    spec = {**SOURCE, "slug": f"proposed-{next(_numbers)}", "reader": {"kind": "jsonl", "path": str(site.folder / "hostile"), "allow_outside": True}}
    return contributions.propose_source(site.registry, SourceProposalIn.model_validate(
        {"source": spec, "evidence": "https://example.org/cc0"}), by=user)


def new_takedown(site: Site) -> int:
    return contributions.file_takedown(site.registry, TakedownIn(
        source="hostile", identifier="space and %41", contact="me@example.org", reason="my text"), by=None)


#: (name, least permission, method, path maker, body)
ACTIONS: list[tuple[str, str, str, Callable[[Site], str], dict[str, Any] | None]] = [
    ("see the review queue", "review", "GET", lambda s: "/api/review", None),
    ("list takedown requests", "review", "GET", lambda s: "/api/takedowns", None),
    ("read a takedown request", "review", "GET", lambda s: f"/api/takedowns/{new_takedown(s)}", None),
    ("see one's account", "account", "GET", lambda s: "/api/account", None),
    ("list users", "users.manage", "GET", lambda s: "/api/admin/users", None),
    ("propose a source", "propose", "POST", lambda s: "/api/contribute/source",
     {"source": SOURCE, "evidence": "https://example.org/cc0"}),
    ("propose a correction", "propose", "POST", lambda s: "/api/contribute/correction",
     {"source": "hostile", "identifier": "a/b/c", "license": "CC0-1.0", "evidence": "https://example.org/x"}),
    ("file a takedown", "takedown.file", "POST", lambda s: "/api/takedown",
     {"source": "hostile", "identifier": "a/b/c", "contact": "me@example.org", "reason": "mine"}),
    ("reject a proposal", "review", "POST", lambda s: f"/api/proposals/{new_proposal(s)}/reject",
     {"reason": "no evidence"}),
    ("reject a takedown", "review", "POST", lambda s: f"/api/takedowns/{new_takedown(s)}/reject",
     {"reason": "not the rights holder"}),
    ("accept a takedown", "review", "POST", lambda s: f"/api/takedowns/{new_takedown(s)}/accept",
     {"reason": "rights holder asked"}),
    ("clear a document", "review", "POST", lambda s: "/api/documents/nltk-genesis/finnish/clear",
     {"reason": "the 1938 translation is out of copyright", "evidence": "https://example.org/finnish"}),
    ("reject a document", "review", "POST", lambda s: "/api/documents/nltk-genesis/lolcat/reject",
     {"reason": "no licence found"}),
    ("clear a source", "review", "POST", lambda s: "/api/sources/hostile/clear",
     {"reason": "the records are CC-BY", "evidence": "https://example.org/cc-by"}),
    ("accept a correction", "review", "POST", lambda s: f"/api/proposals/{new_proposal(s)}/accept",
     {"reason": "the evidence shows CC0"}),
    ("accept a source proposal", "review", "POST", lambda s: f"/api/proposals/{new_source_proposal(s)}/accept",
     {"reason": "a public-domain collection"}),
    ("withdraw a document", "review", "POST", lambda s: "/api/documents/hostile/q?x=1#frag/withdraw".replace(
        "?", "%3F").replace("#", "%23"), {"reason": "withdrawn for the test"}),
    ("withdraw a source", "review", "POST", lambda s: "/api/sources/hostile/withdraw", {"reason": "whole source"}),
    ("create an API token", "account", "POST", lambda s: "/api/account/tokens", {"label": "script"}),
    ("add a user", "users.manage", "POST", lambda s: "/api/admin/users",
     {"name": f"user-{next(_numbers)}", "role": "contributor", "password": PASSWORD}),
    ("change a role", "users.manage", "POST", lambda s: "/api/admin/users/contributor", {"role": "contributor"}),
]


def allowed(role: str | None, permission: str) -> bool:
    have = Role.named(role) if role else Role.ANONYMOUS
    return have >= PERMISSIONS[permission]


@pytest.mark.parametrize("role", ROLE_NAMES, ids=lambda r: r or "anonymous")
@pytest.mark.parametrize(("name", "permission", "method", "path", "body"), ACTIONS, ids=[a[0] for a in ACTIONS])
def test_role_by_action(site: Site, role: str | None, name: str, permission: str, method: str,
                        path: Callable[[Site], str], body: dict[str, Any] | None) -> None:
    client = site.api(role)
    url = path(site)  # may create the request it acts on
    before = state(site)
    r = client.request(method, url, json=body) if method == "POST" else client.get(url)
    if allowed(role, permission):
        assert r.status_code in (200, 201), (name, role, r.status_code, r.text[:300])
        return
    assert r.status_code == (401 if role is None else 403), (name, role, r.status_code, r.text[:300])
    assert "error" in r.json()
    assert state(site) == before, f"{name} refused to {role} but the database changed"


def test_every_permission_is_in_the_matrix() -> None:
    tested = {permission for _, permission, *_ in ACTIONS}
    assert tested | {"read", "public"} == set(PERMISSIONS)


def test_forms_are_checked_on_the_server_too(site: Site) -> None:
    """A contributor posting the reviewer's withdraw form (with a valid CSRF token) is refused."""
    browser = site.client("contributor")
    token = csrf_of(browser.get("/account").text)
    before = state(site)
    r = browser.post("/documents/hostile/a/b/c/withdraw", data={"reason": "sneaky", "csrf_token": token})
    assert r.status_code == 403 and "needs the reviewer role" in r.text
    r = browser.post("/admin/users", data={"name": "mallory", "role": "admin", "password": PASSWORD,
                                           "csrf_token": token})
    assert r.status_code == 403
    assert state(site) == before


def test_anonymous_reading_can_be_turned_off(site: Site) -> None:
    private = site.client(anonymous_read=False)
    assert private.get("/sources").status_code == 401
    assert private.get("/api/documents").status_code == 401
    assert private.get("/takedown").status_code == 200  # a rights holder can still ask
    assert private.get("/login").status_code == 200
    login(private, "contributor")
    assert private.get("/sources").status_code == 200


def test_a_disabled_account_loses_its_session_and_tokens(site: Site) -> None:
    from corpus_registry.web import auth

    auth.add_user(site.registry, name="temp", role="reviewer", password=PASSWORD)
    token = auth.create_token(site.registry, name="temp")
    browser = site.client()
    login(browser, "temp")
    api = site.app()
    from starlette.testclient import TestClient

    script = TestClient(api, headers={"Authorization": f"Bearer {token}"})
    assert browser.get("/review").status_code == 200 and script.get("/api/review").status_code == 200
    auth.set_disabled(site.registry, name="temp")
    assert browser.get("/review").status_code == 401  # the session is gone: anonymous again
    assert script.get("/api/review").status_code == 401
    r = TestClient(api, headers={"Authorization": "Bearer crt_forged"}).get("/api/sources")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = TestClient(api, headers={"Authorization": "Bearer crt_forged"}).get("/api/sources")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_every_write_route_is_exercised() -> None:
    """Each POST route is in the matrix above (sign-in and sign-out: test_security.py, test_flows.py)."""
    from corpus_registry.web.app import ROUTES

    posts = {path for path, _, _, methods, _ in ROUTES if "POST" in methods}
    matrix = {"/sources/{slug}/{action}": "withdraw a source", "/documents/{source}/{rest:path}": "withdraw a document",
              "/contribute/source": "propose a source", "/contribute/correction": "propose a correction",
              "/proposals/{id:int}/{action}": "reject a proposal", "/takedown": "file a takedown",
              "/takedowns/{id:int}/{action}": "accept a takedown", "/account/tokens": "create an API token",
              "/admin/users": "add a user", "/admin/users/{name}": "change a role"}
    assert posts == set(matrix) | {"/login", "/logout"}
    assert set(matrix.values()) <= {name for name, *_ in ACTIONS}
