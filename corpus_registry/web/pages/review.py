"""The review queue and a reviewer's actions on proposals, takedown requests, documents and sources."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from corpus_registry.registry import decisions
from corpus_registry.web import contributions, decide
from corpus_registry.web.contributions import DecisionIn
from corpus_registry.web.http import Call, HTTPProblem, Result
from corpus_registry.web.templating import doc_url, source_url

QUEUE_MAX = 500


def queue(call: Call) -> Result:
    """What waits for a reviewer: proposals, takedown requests, and the sources and documents the
    registry's decisions hold for review (the same queue as `corpus-registry review list`)."""
    key = ("queue", tuple(call.web.caches.counts().fingerprint))
    held = call.web.caches.memo(key, lambda: decisions.review_queue(call.registry, limit=QUEUE_MAX + 1))
    return Result({
        "proposals": contributions.proposals(call.registry, status="pending"),
        "takedowns": contributions.takedowns(call.registry, status="pending"),
        "sources": [i for i in held if i.identifier is None],
        "documents": [i for i in held[:QUEUE_MAX] if i.identifier is not None],
        "more": len(held) > QUEUE_MAX,
    }, "review.html")


def _decision(call: Call) -> DecisionIn:
    fields = ("reason", "evidence", "license")
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
    accept = functools.partial(decide.accept_proposal, catalogue_dir=call.web.settings.catalogue_dir)
    return _answer(call, {**PROPOSAL_ACTIONS, "accept": accept}, "proposals")


def takedown_action(call: Call) -> Result:
    return _answer(call, TAKEDOWN_ACTIONS, "takedowns")


#: What a reviewer may do to a document (SOURCE/IDENTIFIER) or a whole source (identifier None).
TARGET_ACTIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "clear": decide.clear_target, "reject": decide.reject_target, "withdraw": decide.withdraw_target}
PROPOSAL_ACTIONS: dict[str, Callable[..., dict[str, Any]]] = {"reject": decide.reject_proposal}
TAKEDOWN_ACTIONS: dict[str, Callable[..., dict[str, Any]]] = {"accept": decide.accept_takedown,
                                                               "reject": decide.reject_takedown}
