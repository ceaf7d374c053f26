"""A reviewer's answers. Everything that changes the registry goes through the same library calls
as the CLI (withdrawal, licence review decisions, source sync), so the registry's own records say
who decided what, when and why; this module only marks the request answered.

A request is answered once: the status moves from ``pending`` only if it is still pending, so two
reviewers answering at once get one success and one 409.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from corpus_registry.build import releases
from corpus_registry.registry.db.models import utcnow
from corpus_registry.registry.registry import Registry
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
    """Withdraw a document or a whole source, and say which built releases contain it."""
    contributions.check_target(registry, source, identifier)
    recorded = f"{decision.reason} (by {by.name})"
    if identifier is None:
        n = withdraw(registry, source=source, reason=recorded)
    else:
        n = withdraw(registry, ref=f"{source}/{identifier}", reason=recorded)
    return {"source": source, "identifier": identifier, "withdrawn_documents": n,
            "releases": releases.releases_containing(registry, source=source, identifier=identifier)}


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
