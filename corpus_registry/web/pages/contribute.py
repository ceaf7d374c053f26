"""Contributing: proposing a source or a licence correction, and filing a takedown request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from corpus_registry.build import releases
from corpus_registry.registry.catalogue import Collection
from corpus_registry.web import contributions, ratelimit
from corpus_registry.web.contributions import CorrectionIn, SourceProposalIn, TakedownIn
from corpus_registry.web.http import Call, HTTPProblem, Result

SOURCE_FIELDS = ("slug", "name", "collection", "origin_url", "license", "review", "attribution", "rights_holder",
                 "retrieved")
PAGE = 50
READER_KINDS = ("text", "markdown", "gutenberg", "jsonl", "parquet", "hf_disk")


def _choices() -> dict[str, Any]:
    return {"collections": [c.value for c in Collection], "reader_kinds": READER_KINDS}


def contribute_form(call: Call) -> Result:
    return Result({"prefill": {k: call.params.get(k, "")[:512] for k in ("source", "identifier")},
                   **_choices()}, "contribute.html")


def _source_payload(body: dict[str, Any]) -> dict[str, Any]:
    """A form's fields as the ``{"source": {...sources.yaml entry...}, "evidence": …}`` the API takes."""
    entry: dict[str, Any] = {k: body[k] for k in SOURCE_FIELDS if isinstance(body.get(k), str) and body[k].strip()}
    options_text = body.get("reader_options") or ""
    try:
        options = yaml.safe_load(options_text) if options_text.strip() else {}
    except yaml.YAMLError as e:
        raise ValueError(f"reader_options: not valid YAML ({str(e).splitlines()[0]})") from e
    if not isinstance(options, dict):
        raise ValueError("reader_options: must be a YAML mapping such as `path: data/x` and `glob: '*.txt'`")
    entry["reader"] = {"kind": body.get("reader_kind") or "", **options}
    return {"source": entry, "evidence": body.get("evidence") or "", "comment": body.get("comment") or None}


def _limit(call: Call) -> None:
    key = f"proposals:user:{call.visitor.name}"
    wait = ratelimit.retry_after(call.registry, key, ratelimit.PROPOSALS_PER_USER)
    if wait:
        raise HTTPProblem(429, f"too many proposals: try again in {wait} seconds", headers={"Retry-After": str(wait)})
    ratelimit.record(call.registry, key, ratelimit.PROPOSALS_PER_USER)


def propose_source(call: Call) -> Result:
    assert call.visitor.account is not None
    data = call.body if call.api else _source_payload(call.body)
    proposal = SourceProposalIn.model_validate(data)
    _limit(call)
    pid = contributions.propose_source(call.registry, proposal, by=call.visitor.account.id)
    call.web.caches.clear()
    return Result({"proposal": contributions.proposal(call.registry, pid)}, status=201, redirect=f"/proposals/{pid}")


def propose_correction(call: Call) -> Result:
    assert call.visitor.account is not None
    fields = ("source", "identifier", "license", "evidence", "comment")
    data = call.body if call.api else {k: call.body[k] for k in fields if call.body.get(k)}
    correction = CorrectionIn.model_validate(data)
    _limit(call)
    pid = contributions.propose_correction(call.registry, correction, by=call.visitor.account.id)
    return Result({"proposal": contributions.proposal(call.registry, pid)}, status=201, redirect=f"/proposals/{pid}")


def _requests(call: Call, lister: Callable[..., list[Any]], name: str) -> Result:
    """A page of proposals or takedown requests, by status, keyset-paginated."""
    status = call.params.get("status") or None
    if status not in (None, "pending", "accepted", "rejected"):
        raise ValueError("status: one of pending, accepted, rejected")
    after = call.params.get("after")
    if after and not after.isdigit():
        raise ValueError("after: not a cursor of this list")
    items = lister(call.registry, status=status, after=int(after) if after else None, limit=PAGE + 1)
    return Result({name: items[:PAGE], "next": str(items[PAGE - 1].id) if len(items) > PAGE else None,
                   "status": status}, f"{name}.html")


def proposal_list(call: Call) -> Result:
    return _requests(call, contributions.proposals, "proposals")


def proposal(call: Call) -> Result:
    return Result({"proposal": contributions.proposal(call.registry, call.path["id"])}, "proposal.html")


def takedown_form(call: Call) -> Result:
    return Result({"prefill": {k: call.params.get(k, "")[:512] for k in ("source", "identifier")}},
                  "takedown_form.html")


def file_takedown(call: Call) -> Result:
    fields = ("source", "identifier", "contact", "reason")
    data = call.body if call.api else {k: call.body[k] for k in fields if call.body.get(k)}
    request = TakedownIn.model_validate(data)
    address = call.request.client.host if call.request.client else "unknown"
    key = f"takedowns:address:{address}"
    wait = ratelimit.retry_after(call.registry, key, ratelimit.TAKEDOWNS_PER_ADDRESS)
    if wait:
        raise HTTPProblem(429, f"too many takedown requests from your address: try again in {wait} seconds",
                          headers={"Retry-After": str(wait)})
    tid = contributions.file_takedown(call.registry, request, by=call.visitor.account.id if call.visitor.account
                                      else None)
    ratelimit.record(call.registry, key, ratelimit.TAKEDOWNS_PER_ADDRESS)
    return Result({"takedown": {"id": tid, "status": "pending", "source": request.source,
                                "identifier": request.identifier}}, "takedown_filed.html", status=201)


def takedown_list(call: Call) -> Result:
    return _requests(call, contributions.takedowns, "takedowns")


def takedown(call: Call) -> Result:
    request = contributions.takedown(call.registry, call.path["id"])
    containing = releases.releases_containing(call.registry, source=request.source, identifier=request.identifier)
    return Result({"takedown": request, "releases": containing}, "takedown.html")
