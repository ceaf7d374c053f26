"""Registry tables (SQLAlchemy 2). The same models serve SQLite and PostgreSQL.

Text never lives in a row: documents point to a blob (sha256) stored in the document store.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Source(Base):
    """A registered collection: where it came from and under which licence.

    ``license`` and ``review`` are what the catalogue (``sources.yaml``) last said; the licence in
    force is the latest :class:`Decision` about the source (a sync that changes them records one,
    and so does a reviewer), evaluated by :mod:`corpus_registry.registry.standing`."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(128), unique=True)
    name: Mapped[str] = mapped_column(String(512))
    collection: Mapped[str] = mapped_column(String(32))
    origin_url: Mapped[str | None] = mapped_column(String(2048))
    license: Mapped[str] = mapped_column(String(512))
    license_tier: Mapped[str] = mapped_column(String(32))
    review: Mapped[str | None] = mapped_column(Text)
    attribution: Mapped[str | None] = mapped_column(Text)
    rights_holder: Mapped[str | None] = mapped_column(String(512))
    retrieved: Mapped[str | None] = mapped_column(String(32))
    reader_kind: Mapped[str] = mapped_column(String(32))
    reader_options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    overrides: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    base_dir: Mapped[str | None] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    documents: Mapped[list[Document]] = relationship(back_populates="source")


class Blob(Base):
    """A normalised text in the content-addressed store: which shard holds it."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    shard: Mapped[str] = mapped_column(String(256))
    byte_size: Mapped[int] = mapped_column(BigInteger)


class Document(Base):
    """One version of one document of a source. ``is_current`` marks the latest version.

    ``declared_license`` is the licence the document's own record declared (None: it carries its
    source's). ``license``, ``license_tier`` and ``review`` hold its standing as last evaluated (at
    ingest, and again by every decision that concerns it); builds and audits evaluate it afresh
    from the registry's current decisions (:mod:`corpus_registry.registry.standing`)."""

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("source_id", "identifier", "version", name="uq_document_version"),
        Index("ix_documents_sha256", "sha256"),
        Index("ix_documents_current", "source_id", "is_current", "identifier"),
        Index("ix_documents_language", "language"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    identifier: Mapped[str] = mapped_column(String(512))
    version: Mapped[int] = mapped_column(Integer, default=1)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    license: Mapped[str] = mapped_column(String(512))
    license_tier: Mapped[str] = mapped_column(String(32))
    review: Mapped[str | None] = mapped_column(Text)
    declared_license: Mapped[str | None] = mapped_column(String(512))
    url: Mapped[str | None] = mapped_column(String(2048))
    path: Mapped[str | None] = mapped_column(String(2048))
    title: Mapped[str | None] = mapped_column(Text)
    creator: Mapped[str | None] = mapped_column(Text)
    date: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(16))
    language_score: Mapped[float] = mapped_column(Float)
    mixed_language: Mapped[bool] = mapped_column(Boolean, default=False)
    word_count: Mapped[int] = mapped_column(Integer)
    byte_size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="active")
    ingest_run_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_runs.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    source: Mapped[Source] = relationship(back_populates="documents")


class IngestRun(Base):
    """One ingest of one source: what it saw, added and skipped, counted as its batches commit.

    A ``running`` run is the source's ingest lock (a unique index allows one per source) and names
    its holder (``host``, ``pid``, ``started_at``); a run whose process is gone is marked
    ``interrupted`` by the next ingest or ``stats``."""

    __tablename__ = "ingest_runs"
    __table_args__ = (
        Index("ux_ingest_runs_running", "source_id", unique=True,
              sqlite_where=text("status = 'running'"), postgresql_where=text("status = 'running'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), default="running")
    seen: Mapped[int] = mapped_column(Integer, default=0)
    added: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    workers: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    process_started: Mapped[float | None] = mapped_column(Float)  # the pid's start time: a reused pid is not the holder
    skipped: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Withdrawal(Base):
    """A takedown: a document (or a whole source) excluded from future releases, and why.

    A row with ``sha256`` withdraws that text under any identifier, present or future; ``origin``
    says why a row follows another withdrawal (same text, near-duplicate in a recorded build)."""

    __tablename__ = "withdrawals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    document_identifier: Mapped[str | None] = mapped_column(String(512))
    sha256: Mapped[str | None] = mapped_column(String(64))
    origin: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Decision(Base):
    """One licence, review or withdrawal decision: append-only (the database refuses to change or
    delete a row). The latest licence decision about a source or document is its standing."""

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_subject", "source_id", "identifier", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    by: Mapped[str] = mapped_column(String(256))
    via: Mapped[str] = mapped_column(String(32))  # catalogue | review | withdraw | migration | …
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    identifier: Mapped[str | None] = mapped_column(String(512))  # None: the decision is about the source
    action: Mapped[str] = mapped_column(String(32))
    # the licence in force before and after (a document's: its verdict's), and the licence the
    # decision sets on its subject, carried forward by later decisions (a document's override;
    # None: the document keeps its record's or its source's licence)
    from_license: Mapped[str | None] = mapped_column(String(512))
    to_license: Mapped[str | None] = mapped_column(String(512))
    sets_license: Mapped[str | None] = mapped_column(String(512))
    from_tier: Mapped[str | None] = mapped_column(String(32))
    to_tier: Mapped[str | None] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str | None] = mapped_column(String(2048))


class Release(Base):
    """A built release: its spec, the registry state it came from, counts and where it was pushed."""

    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_release_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    version: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    registry_state: Mapped[str] = mapped_column(String(64))
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    shards: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    out_dir: Mapped[str | None] = mapped_column(String(2048))
    executor: Mapped[str] = mapped_column(String(16), default="local", server_default="local")
    hub_repo: Mapped[str | None] = mapped_column(String(256))
    hub_commit: Mapped[str | None] = mapped_column(String(64))
    hub_tag: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    pushed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class ReleasePush(Base):
    """One push of a release to the Hub, kept for good: the table is append-only (the database
    refuses updates and deletes), so the history of where each version went cannot be rewritten.
    ``endpoint`` never holds credentials; ``noop`` marks a push the Hub already had."""

    __tablename__ = "release_pushes"
    __table_args__ = (Index("ix_release_pushes_release", "release_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"))
    repo_id: Mapped[str] = mapped_column(String(256))
    endpoint: Mapped[str] = mapped_column(String(2048))
    tag: Mapped[str] = mapped_column(String(128))
    commit: Mapped[str | None] = mapped_column(String(64))
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    files: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger)
    noop: Mapped[bool] = mapped_column(Boolean)
    pushed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ReleaseDocument(Base):
    """The fate of one document in one release: kept, or dropped with a named reason."""

    __tablename__ = "release_documents"
    __table_args__ = (Index("ix_release_documents_release", "release_id", "status"),)

    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # kept | dropped
    stage: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(256))
    duplicate_of: Mapped[int | None] = mapped_column(Integer)
    similarity: Mapped[float | None] = mapped_column(Float)


class Setting(Base):
    """Registry-wide settings every client must agree on (e.g. the document store URL)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
