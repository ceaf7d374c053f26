"""A reviewer's answers. Everything that changes the registry goes through the same library calls
as the CLI (withdrawal, licence review decisions, source sync), so the registry's own records say
who decided what, when and why; this module only marks the request answered.

A request is answered once: the status moves from ``pending`` only if it is still pending, so two
reviewers answering at once get one success and one 409.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import update

from corpus_registry.errors import ConfigError
from corpus_registry.registry import decisions
from corpus_registry.registry.db.models import utcnow
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.sources import SyncResult, sync_sources
from corpus_registry.registry.withdraw import withdraw
from corpus_registry.web import contributions
from corpus_registry.web.auth import Account
from corpus_registry.web.contributions import DecisionIn
from corpus_registry.web.http import HTTPProblem
from corpus_registry.web.models import Proposal, Takedown


def _answer(registry: Registry, model: type[Proposal] | type[Takedown], row_id: int, *, status: str,
            by: Account, reason: str, **values: Any) -> None:
    with registry.session() as s:
        done = s.execute(update(model).where(model.id == row_id, model.status == "pending")
                         .values(status=status, decided_by=by.id, decided_at=utcnow(), decision_reason=reason,
                                 **values))
        if not done.rowcount:  # type: ignore[attr-defined]
            raise HTTPProblem(409, f"#{row_id} was already answered", hint="reload the page to see the answer")


def _pending(view: contributions.ProposalView | contributions.TakedownView) -> None:
    if view.status != "pending":
        raise HTTPProblem(409, f"#{view.id} was already {view.status} by {view.decided_by}",
                          hint="reload the page to see the answer")


def withdraw_target(registry: Registry, *, source: str, identifier: str | None, decision: DecisionIn,
                    by: Account) -> dict[str, Any]:
    """Withdraw a document (and, as the CLI does, every copy of its text) or a whole source; say what it
    covered and which built or pushed releases hold those texts."""
    contributions.check_target(registry, source, identifier)
    result = withdraw(registry, ref=None if identifier is None else f"{source}/{identifier}",
                      source=source if identifier is None else None, reason=decision.reason, by=by.name,
                      evidence=decision.evidence)
    return {"source": source, "identifier": identifier, "withdrawn_documents": result.count, **result.as_dict()}


def clear_target(registry: Registry, *, source: str, identifier: str | None, decision: DecisionIn,
                 by: Account) -> dict[str, Any]:
    """Clear a document or source held for review (optionally under the licence the evidence shows)."""
    made = decisions.clear(registry, source=source, identifier=identifier, license=decision.license,
                           reason=decision.reason, evidence=decision.evidence, by=by.name)
    return {"decision": made.as_dict()}


def reject_target(registry: Registry, *, source: str, identifier: str | None, decision: DecisionIn,
                  by: Account) -> dict[str, Any]:
    """Reject a document or source: it enters no release until a later decision."""
    made = decisions.reject(registry, source=source, identifier=identifier, license=decision.license,
                            reason=decision.reason, evidence=decision.evidence, by=by.name)
    return {"decision": made.as_dict()}


def accept_takedown(registry: Registry, takedown_id: int, *, by: Account, decision: DecisionIn) -> dict[str, Any]:
    request = contributions.takedown(registry, takedown_id)
    _pending(request)
    done = withdraw_target(registry, source=request.source, identifier=request.identifier, by=by,
                           decision=DecisionIn(reason=f"takedown request #{request.id}: {decision.reason}"[:4000],
                                               evidence=decision.evidence))
    _answer(registry, Takedown, takedown_id, status="accepted", by=by, reason=decision.reason,
            withdrawn_documents=done["withdrawn_documents"])
    return {"takedown": contributions.takedown(registry, takedown_id), **done}


def reject_takedown(registry: Registry, takedown_id: int, *, by: Account, decision: DecisionIn) -> dict[str, Any]:
    _pending(contributions.takedown(registry, takedown_id))
    _answer(registry, Takedown, takedown_id, status="rejected", by=by, reason=decision.reason)
    return {"takedown": contributions.takedown(registry, takedown_id)}


def reject_proposal(registry: Registry, proposal_id: int, *, by: Account, decision: DecisionIn) -> dict[str, Any]:
    _pending(contributions.proposal(registry, proposal_id))
    _answer(registry, Proposal, proposal_id, status="rejected", by=by, reason=decision.reason)
    return {"proposal": contributions.proposal(registry, proposal_id)}


def accept_proposal(registry: Registry, proposal_id: int, *, by: Account, decision: DecisionIn,
                    catalogue_dir: Path) -> dict[str, Any]:
    """A licence correction becomes a reviewer's ``clear`` under the proposed licence, with the
    proposal's evidence; a proposed source is registered as ``sources sync`` registers a catalogue
    (relative reader paths start at ``catalogue_dir``). Either way the registry records the decision."""
    proposal = contributions.proposal(registry, proposal_id)
    _pending(proposal)
    why = f"proposal #{proposal.id} by {proposal.proposed_by}: {decision.reason}"[:4000]
    done: dict[str, Any]
    if proposal.kind == "correction":
        assert proposal.identifier is not None
        made = decisions.clear(registry, source=proposal.source, identifier=proposal.identifier,
                               license=proposal.payload["license"], reason=why,
                               evidence=decision.evidence or proposal.evidence, by=by.name)
        done = {"decision": made.as_dict()}
    else:
        done = {"sync": asdict(register_source(registry, proposal, by=by, catalogue_dir=catalogue_dir))}
    _answer(registry, Proposal, proposal_id, status="accepted", by=by, reason=decision.reason)
    return {"proposal": contributions.proposal(registry, proposal_id), **done}


def register_source(registry: Registry, proposal: contributions.ProposalView, *, by: Account,
                    catalogue_dir: Path) -> SyncResult:
    entry = dict(proposal.payload["source"])
    reader = dict(entry.get("reader") or {})
    if isinstance(reader.get("path"), str):
        path = Path(reader["path"]) if Path(reader["path"]).is_absolute() else catalogue_dir / reader["path"]
        if not path.exists():
            raise ConfigError(f"proposal #{proposal.id}: reader.path: {path} is not on this server",
                              hint="put the files there first (relative paths start at serve --catalogue-dir)")
        if not reader.get("allow_outside") and not path.resolve().is_relative_to(catalogue_dir.resolve()):
            raise ConfigError(f"proposal #{proposal.id}: reader.path: {path} is outside the catalogue folder "
                              f"{catalogue_dir.resolve()}",
                              hint="put the files under serve --catalogue-dir, or propose the source with "
                                   "'allow_outside: true' in its reader options")
        reader["path"] = str(path.resolve())
        reader["allow_outside"] = True  # checked against the catalogue folder just above
    entry["reader"] = reader
    with tempfile.TemporaryDirectory(prefix="corpus-registry-proposal-") as folder:
        catalogue = Path(folder) / f"proposal-{proposal.id}.yaml"
        catalogue.write_text(yaml.safe_dump({"sources": [entry]}, allow_unicode=True, sort_keys=False),
                             encoding="utf-8")
        return sync_sources(registry, catalogue_path=catalogue, by=by.name)
