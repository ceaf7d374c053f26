"""What people do on the site, through its forms (no JavaScript) and its API: file and answer a
takedown request, propose and answer a correction, manage accounts and tokens."""

from __future__ import annotations

from click.testing import CliRunner

from corpus_registry.cli import cli

from tests.web.site import PASSWORD, RELEASE, Site, csrf_of, login


def test_takedown_filed_by_anyone_and_accepted_by_a_reviewer(site: Site) -> None:
    visitor = site.client()
    form = visitor.get("/takedown?source=hostile&identifier=a/b/c")
    assert 'value="a/b/c"' in form.text
    r = visitor.post("/takedown", data={"source": "hostile", "identifier": "a/b/c", "contact": "owner@example.org",
                                        "reason": "I wrote this and never licensed it",
                                        "csrf_token": csrf_of(form.text)})
    assert r.status_code == 201 and "filed" in r.text
    tid = int(r.text.split('id="takedown-id">')[1].split("<")[0])
    # nothing changed yet
    assert site.client().get("/api/documents/hostile/a/b/c").json()["document"]["status"] == "active"
    assert visitor.get(f"/takedowns/{tid}").status_code == 401  # the contact is for reviewers only

    reviewer = site.client("reviewer")
    queue = reviewer.get("/review").text
    assert f"/takedowns/{tid}" in queue
    page = reviewer.get(f"/takedowns/{tid}").text
    assert "owner@example.org" in page and f"{RELEASE} 1.0.0" in page and "built, not pushed" in page
    r = reviewer.post(f"/takedowns/{tid}/accept", data={"reason": "the rights holder asked",
                                                         "csrf_token": csrf_of(page)})
    assert r.status_code == 303 and r.headers["location"] == f"/takedowns/{tid}"
    answered = reviewer.get(f"/takedowns/{tid}").text
    assert 'id="takedown-status">accepted' in answered and "1 documents withdrawn" in answered
    assert f"{RELEASE} 1.1.0" in answered  # the built releases that still contain it
    document = site.client().get("/api/documents/hostile/a/b/c").json()["document"]
    assert document["status"] == "withdrawn"
    assert any(f"takedown request #{tid}" in w["reason"] for w in document["withdrawals"])
    # answered once: a second answer is a conflict and changes nothing
    again = reviewer.post(f"/takedowns/{tid}/reject", data={"reason": "too late", "csrf_token": csrf_of(page)})
    assert again.status_code == 409
    # the CLI sees the same registry
    out = CliRunner().invoke(cli, ["--db", site.registry.url, "show", "hostile/a/b/c", "--no-text"])
    assert "withdrawn" in out.output and f"takedown request #{tid}" in out.output


def test_a_correction_waits_for_review_and_a_rejection_changes_nothing(site: Site) -> None:
    contributor = site.client("contributor")
    form = contributor.get("/contribute?source=hostile&identifier=q%3Fx%3D1%23frag")
    assert 'value="q?x=1#frag"' in form.text
    r = contributor.post("/contribute/correction", data={
        "source": "hostile", "identifier": "q?x=1#frag", "license": "cc0-1.0", "evidence": "https://example.org/cc0",
        "comment": "the author waived all rights", "csrf_token": csrf_of(form.text)})
    assert r.status_code == 303
    proposal_page = contributor.get(r.headers["location"]).text
    assert 'id="proposal-status">pending' in proposal_page and "CC0-1.0" in proposal_page  # canonical SPDX
    pid = int(r.headers["location"].rsplit("/", 1)[1])
    assert site.client().get("/api/documents/hostile/q%3Fx%3D1%23frag").json()["document"]["license"] == "CC-BY-4.0"

    reviewer = site.client("reviewer")
    assert f"/proposals/{pid}" in reviewer.get("/review").text
    r = reviewer.post(f"/proposals/{pid}/reject", data={"reason": "the page shows CC-BY",
                                                        "csrf_token": csrf_of(reviewer.get("/review").text)})
    assert r.status_code == 303
    data = site.api().get(f"/api/proposals/{pid}").json()["proposal"]
    assert data["status"] == "rejected" and data["decided_by"] == "reviewer"
    assert data["decision_reason"] == "the page shows CC-BY"
    assert site.client().get("/api/documents/hostile/q%3Fx%3D1%23frag").json()["document"]["license"] == "CC-BY-4.0"


def test_proposals_are_validated_like_the_catalogue(site: Site) -> None:
    contributor = site.client("contributor")
    token = csrf_of(contributor.get("/contribute").text)
    good = {"slug": "new-source", "name": "New", "collection": "OpenWeb", "license": "CC0-1.0", "reader_kind": "jsonl",
            "reader_options": "path: data/new\nglob: '*.jsonl'", "evidence": "https://example.org/cc0",
            "csrf_token": token}
    for field, value, message in (
        ("license", "CC-BY-99", "source.license"),
        ("slug", "Not A Slug", "source.slug"),
        ("collection", "OpenNothing", "source.collection"),
        ("reader_options", "path: [unclosed", "reader_options"),
        ("evidence", "javascript:alert(1)", "evidence"),
        ("retrieved", "yesterday", "source.retrieved"),
    ):
        r = contributor.post("/contribute/source", data={**good, field: value})
        assert r.status_code == 400 and message in r.text, (field, r.text[:400])
    r = contributor.post("/contribute/source", data=good)
    assert r.status_code == 303
    proposal = site.api().get("/api" + r.headers["location"]).json()["proposal"]
    assert proposal["payload"]["source"]["reader"] == {"kind": "jsonl", "path": "data/new", "glob": "*.jsonl"}
    assert proposal["payload"]["update"] is False
    r = site.api("contributor").post("/api/contribute/correction", json={
        "source": "hostile", "identifier": "nope", "license": "CC0-1.0", "evidence": "https://example.org"})
    assert r.status_code == 404


def test_admin_manages_accounts_in_the_browser(site: Site) -> None:
    admin = site.client("admin")
    page = admin.get("/admin/users").text
    assert "contributor" in page and "reviewer" in page
    r = admin.post("/admin/users", data={"name": "newbie", "role": "contributor", "password": PASSWORD,
                                         "csrf_token": csrf_of(page)})
    assert r.status_code == 303
    newbie = site.client()
    login(newbie, "newbie")
    assert newbie.get("/review").status_code == 403
    assert admin.post("/admin/users/newbie", data={"role": "reviewer", "csrf_token": csrf_of(page)}).status_code == 303
    assert newbie.get("/review").status_code == 200  # the role is read on every request
    r = admin.post("/admin/users/admin", data={"role": "contributor", "csrf_token": csrf_of(page)})
    assert r.status_code == 400 and "only admin" in r.text
    r = admin.post("/admin/users", data={"name": "weak", "role": "contributor", "password": "short",
                                         "csrf_token": csrf_of(page)})
    assert r.status_code == 400 and "password" in r.text


def test_api_token_from_the_account_page(site: Site) -> None:
    contributor = site.client("contributor")
    page = contributor.get("/account").text
    assert "propose a source" in page
    r = contributor.post("/account/tokens", data={"label": "my script", "csrf_token": csrf_of(page)})
    token = r.text.split('<pre id="new-token">')[1].split("<")[0]
    assert token.startswith("crt_")
    script = site.app()
    from starlette.testclient import TestClient

    api = TestClient(script, headers={"Authorization": f"Bearer {token}"})
    assert api.get("/api/account").json()["user"]["name"] == "contributor"
    assert api.get("/api/review").status_code == 403


def test_withdraw_through_the_api_names_the_releases(site: Site) -> None:
    r = site.api("reviewer").post("/api/documents/hostile/space%20and%20%2541/withdraw",
                                  json={"reason": "withdrawn by script"})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["identifier"] == "space and %41" and data["withdrawn_documents"] == 1
    assert [rel["version"] for rel in data["releases"]] == ["1.0.0", "1.1.0"]
    r = site.api("reviewer").post("/api/documents/hostile/space%20and%20%2541/explode", json={"reason": "x"})
    assert r.status_code == 404
    r = site.api("reviewer").post("/api/documents/hostile/space%20and%20%2541/withdraw", json={})
    assert r.status_code == 400 and r.json()["error"].startswith("reason:")
