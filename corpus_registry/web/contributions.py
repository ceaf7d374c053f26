"""What visitors ask for: proposed sources, licence corrections and takedown requests.

A request is validated when it is filed (a proposed source by the very model that validates
``sources.yaml``, a licence by the SPDX parser) and then waits: nothing in the registry changes
until a reviewer accepts it (:mod:`corpus_registry.web.decide`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from corpus_registry.errors import CorpusRegistryError, NotFoundError
from corpus_registry.registry import licences
from corpus_registry.registry.browse import iso
from corpus_registry.registry.catalogue import SourceSpec
from corpus_registry.registry.db.models import Document, Source
from corpus_registry.registry.registry import Registry
from corpus_registry.web.models import Proposal, Takedown, User


def http_url(value: str | None) -> str | None:
    """``value`` if it is an absolute http(s) URL, else None (so that no page links to javascript:)."""
    if not value:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme in ("http", "https") and parts.netloc else None


def _evidence(value: str) -> str:
    if http_url(value) is None:
        raise ValueError("evidence must be an http(s) URL of a page that shows the licence")
    return value


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SourceProposalIn(_In):
    """A proposed source: one ``sources.yaml`` entry, with the evidence for its licence."""

    source: SourceSpec
    evidence: str = Field(max_length=2048)
    comment: str | None = Field(None, max_length=4000)

    _evidence = field_validator("evidence")(classmethod(lambda cls, v: _evidence(v)))


class CorrectionIn(_In):
    """A proposed licence for one document, with the evidence for it."""

    source: str = Field(min_length=1, max_length=128)
    identifier: str = Field(min_length=1, max_length=512)
    license: str = Field(min_length=1, max_length=512)
    evidence: str = Field(max_length=2048)
    comment: str | None = Field(None, max_length=4000)

    _evidence = field_validator("evidence")(classmethod(lambda cls, v: _evidence(v)))

    @field_validator("license")
    @classmethod
    def _license(cls, value: str) -> str:
        try:
            return licences.canonical(value)
        except CorpusRegistryError as e:
            raise ValueError(str(e)) from e


class TakedownIn(_In):
    """A takedown request for a document (``identifier``) or a whole source (no identifier)."""

    source: str = Field(min_length=1, max_length=128)
    identifier: str | None = Field(None, max_length=512)
    contact: str = Field(min_length=3, max_length=320, description="how a reviewer can reach you")
    reason: str = Field(min_length=3, max_length=4000)

    @field_validator("identifier")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None


class DecisionIn(_In):
    """A reviewer's answer: always with a reason; clearing may name the licence the evidence shows."""

    reason: str = Field(min_length=3, max_length=4000)
    evidence: str | None = Field(None, max_length=2048)
    license: str | None = Field(None, max_length=512)

    @field_validator("license")
    @classmethod
    def _license(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            return licences.canonical(value)
        except CorpusRegistryError as e:
            raise ValueError(str(e)) from e

    @field_validator("evidence")
    @classmethod
    def _optional_evidence(cls, value: str | None) -> str | None:
        return _evidence(value) if value else None


def check_target(registry: Registry, source: str, identifier: str | None) -> None:
    """Raise NotFoundError unless the source (and document) is registered."""
    with registry.session() as s:
        sid = s.scalar(select(Source.id).where(Source.slug == source))
        if sid is None:
            raise NotFoundError(f"no source {source!r} in the registry")
        if identifier is not None and s.scalar(select(Document.id).where(
                Document.source_id == sid, Document.identifier == identifier).limit(1)) is None:
            raise NotFoundError(f"no document {source}/{identifier} in the registry")


def propose_source(registry: Registry, proposal: SourceProposalIn, *, by: int) -> int:
    with registry.session() as s:
        exists = s.scalar(select(Source.id).where(Source.slug == proposal.source.slug))
        row = Proposal(kind="source", status="pending", source_slug=proposal.source.slug,
                       payload={"source": proposal.source.model_dump(mode="json", exclude_none=True),
                                "update": exists is not None},
                       evidence=proposal.evidence, comment=proposal.comment, proposed_by=by)
        s.add(row)
        s.flush()
        return row.id


def propose_correction(registry: Registry, correction: CorrectionIn, *, by: int) -> int:
    check_target(registry, correction.source, correction.identifier)
    with registry.session() as s:
        row = Proposal(kind="correction", status="pending", source_slug=correction.source,
                       document_identifier=correction.identifier, payload={"license": correction.license},
                       evidence=correction.evidence, comment=correction.comment, proposed_by=by)
        s.add(row)
        s.flush()
        return row.id


def file_takedown(registry: Registry, request: TakedownIn, *, by: int | None) -> int:
    check_target(registry, request.source, request.identifier)
    with registry.session() as s:
        row = Takedown(status="pending", source_slug=request.source, document_identifier=request.identifier,
                       contact=request.contact, reason=request.reason, filed_by=by)
        s.add(row)
        s.flush()
        return row.id


@dataclass(frozen=True, slots=True)
class ProposalView:
    id: int
    kind: str
    status: str
    source: str
    identifier: str | None
    payload: dict[str, Any]
    evidence: str | None
    comment: str | None
    proposed_by: str
    proposed_at: str
    decided_by: str | None
    decided_at: str | None
    decision_reason: str | None


@dataclass(frozen=True, slots=True)
class TakedownView:
    id: int
    status: str
    source: str
    identifier: str | None
    contact: str
    reason: str
    filed_by: str | None
    filed_at: str
    decided_by: str | None
    decided_at: str | None
    decision_reason: str | None
    withdrawn_documents: int | None


def _listed(q: Any, model: type[Proposal] | type[Takedown], *, status: str | None, ids: list[int] | None,
            after: int | None, limit: int) -> Any:
    """The filters every request list shares: status, ids, keyset cursor, page size."""
    if status:
        q = q.where(model.status == status)
    if ids is not None:
        q = q.where(model.id.in_(ids))
    if after is not None:
        q = q.where(model.id > after)
    return q.order_by(model.id).limit(limit)


def proposals(registry: Registry, *, status: str | None = None, ids: list[int] | None = None,
              after: int | None = None, limit: int = 100) -> list[ProposalView]:
    proposer, decider = aliased(User), aliased(User)
    q = _listed(select(Proposal, proposer.name, decider.name)
                .join(proposer, proposer.id == Proposal.proposed_by)
                .outerjoin(decider, decider.id == Proposal.decided_by),
                Proposal, status=status, ids=ids, after=after, limit=limit)
    with registry.session() as s:
        return [ProposalView(p.id, p.kind, p.status, p.source_slug, p.document_identifier, p.payload, p.evidence,
                             p.comment, who, iso(p.proposed_at) or "", decided, iso(p.decided_at), p.decision_reason)
                for p, who, decided in s.execute(q)]


def proposal(registry: Registry, proposal_id: int) -> ProposalView:
    found = proposals(registry, ids=[proposal_id], limit=1)
    if not found:
        raise NotFoundError(f"no proposal #{proposal_id}")
    return found[0]


def takedowns(registry: Registry, *, status: str | None = None, ids: list[int] | None = None,
              source: str | None = None, identifier: str | None = None, after: int | None = None,
              limit: int = 100) -> list[TakedownView]:
    filer, decider = aliased(User), aliased(User)
    q = (select(Takedown, filer.name, decider.name)
         .outerjoin(filer, filer.id == Takedown.filed_by)
         .outerjoin(decider, decider.id == Takedown.decided_by))
    if source is not None:
        q = q.where(Takedown.source_slug == source)
    if identifier is not None:
        q = q.where(Takedown.document_identifier == identifier)
    q = _listed(q, Takedown, status=status, ids=ids, after=after, limit=limit)
    with registry.session() as s:
        return [TakedownView(t.id, t.status, t.source_slug, t.document_identifier, t.contact, t.reason, who,
                             iso(t.filed_at) or "", decided, iso(t.decided_at), t.decision_reason,
                             t.withdrawn_documents)
                for t, who, decided in s.execute(q)]


def takedown(registry: Registry, takedown_id: int) -> TakedownView:
    found = takedowns(registry, ids=[takedown_id], limit=1)
    if not found:
        raise NotFoundError(f"no takedown request #{takedown_id}")
    return found[0]


def pending_counts(registry: Registry) -> dict[str, int]:
    with registry.session() as s:
        return {
            "proposals": int(s.scalar(select(func.count()).where(Proposal.status == "pending")) or 0),
            "takedowns": int(s.scalar(select(func.count()).where(Takedown.status == "pending")) or 0),
        }
