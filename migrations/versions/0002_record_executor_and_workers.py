"""record how a release was built (executor) and how many workers an ingest used

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ingest_runs") as batch_op:
        batch_op.add_column(sa.Column("workers", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("releases") as batch_op:
        batch_op.add_column(sa.Column("executor", sa.String(length=16), nullable=False, server_default="local"))


def downgrade() -> None:
    with op.batch_alter_table("releases") as batch_op:
        batch_op.drop_column("executor")
    with op.batch_alter_table("ingest_runs") as batch_op:
        batch_op.drop_column("workers")
