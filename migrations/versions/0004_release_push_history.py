"""release push history: one append-only row per push (the release row keeps only the latest)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_REFUSE = "release_pushes is append-only: a push record is never changed or deleted"


def upgrade() -> None:
    op.create_table(
        "release_pushes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("repo_id", sa.String(length=256), nullable=False),
        sa.Column("endpoint", sa.String(length=2048), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("commit", sa.String(length=64), nullable=True),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("noop", sa.Boolean(), nullable=False),
        sa.Column("pushed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["release_id"], ["releases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_release_pushes_release", "release_pushes", ["release_id"])
    # the pushes recorded so far (the latest per release) start the history
    op.execute(
        "INSERT INTO release_pushes (release_id, repo_id, endpoint, tag, \"commit\", manifest_sha256, files, "
        "bytes, noop, pushed_at) SELECT id, hub_repo, '', COALESCE(hub_tag, version), hub_commit, "
        "COALESCE(manifest_sha256, ''), 0, 0, false, COALESCE(pushed_at, created_at) FROM releases "
        "WHERE hub_commit IS NOT NULL AND hub_repo IS NOT NULL"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION release_pushes_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{_REFUSE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER release_pushes_append_only BEFORE UPDATE OR DELETE ON release_pushes "
            "FOR EACH ROW EXECUTE FUNCTION release_pushes_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER release_pushes_no_{event.lower()} BEFORE {event} ON release_pushes "
                f"BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS release_pushes_append_only ON release_pushes")
        op.execute("DROP FUNCTION IF EXISTS release_pushes_append_only()")
    else:
        for event in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS release_pushes_no_{event}")
    op.drop_index("ix_release_pushes_release", table_name="release_pushes")
    op.drop_table("release_pushes")
