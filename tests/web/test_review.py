"""A reviewer's decisions through the web go through the registry's own calls (the same as
`corpus-registry review` and `sources sync`) and land in its append-only decision history."""

from __future__ import annotations

from click.testing import CliRunner

from corpus_registry.cli import cli
from corpus_registry.registry import decisions

from tests.web.site import Site, csrf_of


def test_the_queue_is_the_registrys_review_queue(site: Site) -> None:
    page = site.client("reviewer").get("/review").text
    queued = {(i.source, i.identifier) for i in decisions.review_queue(site.registry)}
    assert {("nltk-genesis", "finnish"), ("nltk-genesis", "lolcat"), ("nltk-genesis", "portuguese")} <= queued
    for source, identifier in queued:
        assert f"{source}/{identifier}" in page


def test_clearing_a_document_under_review_is_a_recorded_decision(site: Site) -> None:
    reviewer = site.client("reviewer")
    page = reviewer.get("/documents/nltk-genesis/finnish").text
    assert "Held for review" in page
    r = reviewer.post("/documents/nltk-genesis/finnish/clear", data={
        "reason": "the 1938 revision is out of copyright", "evidence": "https://example.org/finnish-1938",
        "csrf_token": csrf_of(page)})
    assert r.status_code == 303 and r.headers["location"].endswith("?done=clear")
    after = reviewer.get(r.headers["location"]).text
    assert "Held for review" not in after and 'id="done"' in after
    [made] = [d for d in decisions.history(site.registry, source="nltk-genesis", identifier="finnish")
              if d.action == "clear"]
    assert made.by == "reviewer" and made.via == "review" and made.evidence == "https://example.org/finnish-1938"
    assert made.to_status == "cleared"
    assert ("nltk-genesis", "finnish") not in {(i.source, i.identifier) for i in decisions.review_queue(site.registry)}
    # the CLI shows the same decision
    out = CliRunner().invoke(cli, ["--db", site.registry.url, "show", "nltk-genesis/finnish", "--no-text"]).output
    assert "the 1938 revision is out of copyright" in out


def test_rejecting_needs_a_reason_and_is_recorded(site: Site) -> None:
    api = site.api("reviewer")
    r = api.post("/api/documents/nltk-genesis/lolcat/reject", json={"reason": ""})
    assert r.status_code == 400 and r.json()["error"].startswith("reason:")
    r = api.post("/api/documents/nltk-genesis/lolcat/reject", json={"reason": "community wiki, no licence"})
    assert r.status_code == 200, r.text
    assert r.json()["decision"]["action"] == "reject" and r.json()["decision"]["by"] == "reviewer"
    page = site.client().get("/documents/nltk-genesis/lolcat").text
    assert "community wiki, no licence" in page and 'class="decision-reject"' in page


def test_an_accepted_correction_clears_under_the_proposed_licence(site: Site) -> None:
    contributor = site.api("contributor")
    r = contributor.post("/api/contribute/correction", json={
        "source": "nltk-genesis", "identifier": "portuguese", "license": "CC0-1.0",
        "evidence": "https://example.org/portuguese-cc0", "comment": "the publisher's page says CC0"})
    pid = r.json()["proposal"]["id"]
    assert ("nltk-genesis", "portuguese") in {(i.source, i.identifier) for i in decisions.review_queue(site.registry)}
    r = site.api("reviewer").post(f"/api/proposals/{pid}/accept", json={"reason": "checked the publisher's page"})
    assert r.status_code == 200, r.text
    assert r.json()["proposal"]["status"] == "accepted"
    [made] = [d for d in decisions.history(site.registry, source="nltk-genesis", identifier="portuguese")
              if d.action == "clear"]
    assert made.to_license == "CC0-1.0" and made.by == "reviewer"
    assert made.evidence == "https://example.org/portuguese-cc0" and f"proposal #{pid} by contributor" in made.reason
    document = site.client().get("/api/documents/nltk-genesis/portuguese").json()["document"]
    assert document["license"] == "CC0-1.0"
    assert site.api("reviewer").post(f"/api/proposals/{pid}/reject", json={"reason": "again"}).status_code == 409


def test_an_accepted_source_is_registered_as_sources_sync_would(site: Site) -> None:
    records = site.folder / "hostile"
    r = site.api("contributor").post("/api/contribute/source", json={
        "source": {"slug": "proposed-web", "name": "Proposed on the web", "collection": "OpenWeb",
                   "license": "CC0-1.0", "reader": {"kind": "jsonl", "path": str(records), "allow_outside": True}},
        "evidence": "https://example.org/cc0"})
    pid = r.json()["proposal"]["id"]
    assert site.client().get("/api/sources/proposed-web").status_code == 404  # nothing changed yet
    r = site.api("reviewer").post(f"/api/proposals/{pid}/accept", json={"reason": "public domain dedication"})
    assert r.status_code == 200, r.text
    assert r.json()["sync"]["added"] == ["proposed-web"]
    source = site.client().get("/api/sources/proposed-web").json()["source"]
    assert source["license"] == "CC0-1.0" and source["reader"]["path"] == str(records)
    assert any(d["by"] == "reviewer" for d in source["decisions"])
    # the operator ingests it with the CLI
    out = CliRunner().invoke(cli, ["--db", site.registry.url, "ingest", "--no-progress", "proposed-web"])
    assert out.exit_code == 0 and "8 added" in out.output


def test_a_source_proposal_with_a_missing_folder_is_refused_at_acceptance(site: Site) -> None:
    r = site.api("contributor").post("/api/contribute/source", json={
        "source": {"slug": "nowhere", "name": "Nowhere", "collection": "OpenWeb", "license": "CC0-1.0",
                   "reader": {"kind": "jsonl", "path": "no/such/folder"}},
        "evidence": "https://example.org/cc0"})
    pid = r.json()["proposal"]["id"]
    r = site.api("reviewer").post(f"/api/proposals/{pid}/accept", json={"reason": "looks fine"})
    assert r.status_code == 400 and "reader" in r.json()["error"]
    assert site.api().get(f"/api/proposals/{pid}").json()["proposal"]["status"] == "pending"
    assert site.client().get("/api/sources/nowhere").status_code == 404
