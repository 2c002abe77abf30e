"""Dashboard operators (name, role, scrypt password hash), their server-side
sessions (keyed by the SHA-256 of the cookie's token) and the security-event
log (logins, failed logins, account changes) the dashboard shows.

The revision id is shorter than the file name: ``alembic_version`` holds
at most 32 characters.

Revision ID: 0006_operators_security
Revises: 0005_meter_values_by_time
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_operators_security"
down_revision: str | None = "0005_meter_values_by_time"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        _time("created_at", nullable=False),
        _time("disabled_at"),
        sa.PrimaryKeyConstraint("name", name="pk_operators"),
    )
    op.create_table(
        "operator_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("operator", sa.String(64), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        _time("created_at", nullable=False),
        _time("expires_at", nullable=False),
        _time("last_seen_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_operator_sessions"),
        sa.ForeignKeyConstraint(
            ["operator"],
            ["operators.name"],
            name="fk_operator_sessions_operator_operators",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_operator_sessions_operator", "operator_sessions", ["operator"])
    op.create_table(
        "security_events",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        _time("at", nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("remote", sa.String(255)),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_security_events"),
    )
    op.create_index("ix_security_events_kind_id", "security_events", ["kind", "id"])


def downgrade() -> None:
    op.drop_table("security_events")
    op.drop_table("operator_sessions")
    op.drop_table("operators")
