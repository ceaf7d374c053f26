"""The review queue and a reviewer's actions on proposals, takedown requests, documents and sources."""

from __future__ import annotations

from typing import Any

from corpus_registry.registry import browse
from corpus_registry.registry.licences import Tier
from corpus_registry.web import contributions, decide
from corpus_registry.web.contributions import DecisionIn
from corpus_registry.web.http import Call, HTTPProblem, Result
from corpus_registry.web.templating import doc_url, source_url


def queue(call: Call) -> Result:
    after = call.params.get("after") or None
    if after is not None and not (after.isdigit() and len(after) < 19):
        raise ValueError("after: not a cursor of this list (use the `next` of the previous page)")
    documents = browse.list_documents(call.registry, browse.DocumentQuery(license_tier=Tier.REVIEW, after=after))
    sources = [s for s in browse.list_source_summaries(call.registry) if s.license_tier == Tier.REVIEW.value]
    return Result({
        "proposals": contributions.proposals(call.registry, status="pending"),
        "takedowns": contributions.takedowns(call.registry, status="pending"),
        "documents": documents,
        "sources": sources,
    }, "review.html")


def _decision(call: Call) -> DecisionIn:
    fields = ("reason", "evidence")
    return DecisionIn.model_validate(call.body if call.api else {k: call.body[k] for k in fields if call.body.get(k)})


def _split_action(rest: str, actions: tuple[str, ...]) -> tuple[str, str]:
    identifier, _, action = rest.rpartition("/")
    if action not in actions or not identifier:
        raise HTTPProblem(404, f"no action {action!r} here", hint=f"POST to …/{' or …/'.join(actions)}")
    return identifier, action


def document_action(call: Call) -> Result:
    """POST /documents/SOURCE/IDENTIFIER/withdraw (the identifier may contain ``/``)."""
    source = call.path["source"]
    identifier, action = _split_action(call.path["rest"], DOCUMENT_ACTIONS)
    decision = _decision(call)
    assert call.visitor.account is not None
    done: dict[str, Any] = {}
    if action == "withdraw":
        done = decide.withdraw_target(call.registry, source=source, identifier=identifier, reason=decision.reason,
                                      by=call.visitor.account)
    call.web.caches.clear()
    return Result({"action": action, **done}, redirect=doc_url(source, identifier) + f"?done={action}")


def source_action(call: Call) -> Result:
    """POST /sources/SLUG/withdraw."""
    slug, action = call.path["slug"], call.path["action"]
    if action not in SOURCE_ACTIONS:
        raise HTTPProblem(404, f"no action {action!r} here")
    decision = _decision(call)
    assert call.visitor.account is not None
    done: dict[str, Any] = {}
    if action == "withdraw":
        done = decide.withdraw_target(call.registry, source=slug, identifier=None, reason=decision.reason,
                                      by=call.visitor.account)
    call.web.caches.clear()
    return Result({"action": action, **done}, redirect=source_url(slug) + f"?done={action}")


def proposal_action(call: Call) -> Result:
    pid, action = call.path["id"], call.path["action"]
    decision = _decision(call)
    assert call.visitor.account is not None
    if action == "reject":
        done = decide.reject_proposal(call.registry, pid, by=call.visitor.account, decision=decision)
    else:
        raise HTTPProblem(404, f"no action {action!r} here", hint="POST to …/accept or …/reject")
    call.web.caches.clear()
    return Result(done, redirect=f"/proposals/{pid}")


def takedown_action(call: Call) -> Result:
    tid, action = call.path["id"], call.path["action"]
    decision = _decision(call)
    assert call.visitor.account is not None
    if action == "accept":
        done = decide.accept_takedown(call.registry, tid, by=call.visitor.account, decision=decision)
    elif action == "reject":
        done = decide.reject_takedown(call.registry, tid, by=call.visitor.account, decision=decision)
    else:
        raise HTTPProblem(404, f"no action {action!r} here", hint="POST to …/accept or …/reject")
    call.web.caches.clear()
    return Result(done, redirect=f"/takedowns/{tid}")


DOCUMENT_ACTIONS = ("withdraw",)
SOURCE_ACTIONS = ("withdraw",)
