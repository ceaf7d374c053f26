"""The review queue and a reviewer's actions on proposals, takedown requests, documents and sources."""

from __future__ import annotations

from collections.abc import Callable
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
    """POST /documents/SOURCE/IDENTIFIER/ACTION (the identifier may contain ``/``)."""
    source = call.path["source"]
    identifier, action = _split_action(call.path["rest"], tuple(TARGET_ACTIONS))
    done = _act(call, TARGET_ACTIONS[action], source=source, identifier=identifier)
    return Result({"action": action, **done}, redirect=doc_url(source, identifier) + f"?done={action}")


def source_action(call: Call) -> Result:
    """POST /sources/SLUG/ACTION."""
    slug, action = call.path["slug"], call.path["action"]
    if action not in TARGET_ACTIONS:
        raise HTTPProblem(404, f"no action {action!r} here", hint=f"POST to …/{' or …/'.join(TARGET_ACTIONS)}")
    done = _act(call, TARGET_ACTIONS[action], source=slug, identifier=None)
    return Result({"action": action, **done}, redirect=source_url(slug) + f"?done={action}")


def _act(call: Call, act: Callable[..., dict[str, Any]], **target: Any) -> dict[str, Any]:
    decision = _decision(call)
    assert call.visitor.account is not None
    done = act(call.registry, **target, decision=decision, by=call.visitor.account)
    call.web.caches.clear()
    return done


def _answer(call: Call, actions: dict[str, Callable[..., dict[str, Any]]], kind: str) -> Result:
    """POST /proposals/ID/ACTION or /takedowns/ID/ACTION."""
    rid, action = call.path["id"], call.path["action"]
    if action not in actions:
        raise HTTPProblem(404, f"no action {action!r} here", hint=f"POST to …/{' or …/'.join(actions)}")
    assert call.visitor.account is not None
    done = actions[action](call.registry, rid, by=call.visitor.account, decision=_decision(call))
    call.web.caches.clear()
    return Result(done, redirect=f"/{kind}/{rid}")


def proposal_action(call: Call) -> Result:
    return _answer(call, PROPOSAL_ACTIONS, "proposals")


def takedown_action(call: Call) -> Result:
    return _answer(call, TAKEDOWN_ACTIONS, "takedowns")


#: What a reviewer may do to a document (SOURCE/IDENTIFIER) or a whole source (identifier None).
TARGET_ACTIONS: dict[str, Callable[..., dict[str, Any]]] = {"withdraw": decide.withdraw_target}
PROPOSAL_ACTIONS: dict[str, Callable[..., dict[str, Any]]] = {"reject": decide.reject_proposal}
TAKEDOWN_ACTIONS: dict[str, Callable[..., dict[str, Any]]] = {"accept": decide.accept_takedown,
                                                               "reject": decide.reject_takedown}
