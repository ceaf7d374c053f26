"""The web application's own tables (the web's migration): accounts, sessions, API tokens, contribution
proposals, takedown requests and the login rate limiter's memory.

Review and withdrawal decisions are not kept here: they go through the registry's library calls and
land in its own history; a proposal or takedown only remembers who asked, who answered and when.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from corpus_registry.registry.db.models import Base, utcnow


class User(Base):
    """A person who signs in. ``role``: contributor, reviewer or admin."""

    __tablename__ = "web_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class WebSession(Base):
    """A signed-in browser. The cookie carries the token; only its sha256 is stored."""

    __tablename__ = "web_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


class ApiToken(Base):
    """A bearer token for scripts using the JSON API; only its sha256 is stored."""

    __tablename__ = "web_api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id"), index=True)
    label: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Proposal(Base):
    """A contributor's proposal waiting for review: a new source (``kind="source"``, ``payload`` =
    the sources.yaml entry) or a licence correction of one document (``kind="correction"``)."""

    __tablename__ = "web_proposals"
    __table_args__ = (Index("ix_web_proposals_status", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | accepted | rejected
    source_slug: Mapped[str] = mapped_column(String(128))
    document_identifier: Mapped[str | None] = mapped_column(String(512))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    evidence: Mapped[str | None] = mapped_column(String(2048))
    comment: Mapped[str | None] = mapped_column(Text)
    proposed_by: Mapped[int] = mapped_column(ForeignKey("web_users.id"))
    proposed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("web_users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    decision_reason: Mapped[str | None] = mapped_column(Text)


class Takedown(Base):
    """A takedown request for a document or a whole source, filed by anyone."""

    __tablename__ = "web_takedowns"
    __table_args__ = (Index("ix_web_takedowns_status", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | accepted | rejected
    source_slug: Mapped[str] = mapped_column(String(128))
    document_identifier: Mapped[str | None] = mapped_column(String(512))
    contact: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(Text)
    filed_by: Mapped[int | None] = mapped_column(ForeignKey("web_users.id"))
    filed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("web_users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    withdrawn_documents: Mapped[int | None] = mapped_column(Integer)


class RateEvent(Base):
    """One counted event (a failed login, a filed takedown) under a key such as ``login:ip:…``;
    shared by every server process, so limits hold behind several workers."""

    __tablename__ = "web_rate_events"
    __table_args__ = (Index("ix_web_rate_events_key", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(160))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
