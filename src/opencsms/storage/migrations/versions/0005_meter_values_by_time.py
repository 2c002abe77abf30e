"""Meter values are indexed by (transaction_id, timestamp): the sweep reads a
session's samples from a bookend reading on (``for_transaction_since``), a
range of that index, instead of every sample of the session.

The new index replaces ``ix_meter_values_transaction_id``, of which it is a
prefix. Built in the migration's transaction (as every migration here): on
PostgreSQL that blocks writes to ``meter_values`` while the index builds,
which on a large table is worth a quiet hour.

Revision ID: 0005_meter_values_by_time
Revises: 0004_learned_max_periods
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005_meter_values_by_time"
down_revision: str | None = "0004_learned_max_periods"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_meter_values_transaction_id_timestamp",
        "meter_values",
        ["transaction_id", "timestamp"],
    )
    op.drop_index("ix_meter_values_transaction_id", table_name="meter_values")


def downgrade() -> None:
    op.create_index("ix_meter_values_transaction_id", "meter_values", ["transaction_id"])
    op.drop_index("ix_meter_values_transaction_id_timestamp", table_name="meter_values")
