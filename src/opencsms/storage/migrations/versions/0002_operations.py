"""Operator data: commands (audit trail and durable queue), station
configuration snapshots and provisioning, reservations, local lists, firmware
files and jobs, diagnostics jobs, API keys, webhooks and their deliveries.

Revision ID: 0002_operations
Revises: 0001_initial
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_operations"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.String(255)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _index(table: str, *columns: str) -> None:
    op.create_index(f"ix_{table}_{'_'.join(columns)}", table, list(columns))


def upgrade() -> None:
    op.create_table(
        "commands",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("station_id", _ID, nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("requested_by", sa.String(255), nullable=False),
        _time("created_at", nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        _time("expires_at"),
        _time("sent_at"),
        _time("finished_at"),
        sa.Column("status", sa.String(50)),
        sa.Column("response", _JSON),
        sa.Column("error", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_commands"),
    )
    _index("commands", "station_id", "created_at")
    _index("commands", "station_id", "state", "id")
    op.create_table(
        "station_configuration",
        sa.Column("station_id", _ID, nullable=False),
        sa.Column("key", sa.String(500), nullable=False),
        sa.Column("value", sa.Text()),
        sa.Column("readonly", sa.Boolean(), nullable=False),
        _time("reported_at", nullable=False),
        sa.PrimaryKeyConstraint("station_id", "key", name="pk_station_configuration"),
    )
    op.create_table(
        "provisioning",
        sa.Column("station_id", _ID, nullable=False),
        sa.Column("key", sa.String(500), nullable=False),
        sa.Column("desired_value", sa.Text(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _time("updated_at", nullable=False),
        sa.Column("detail", sa.Text()),
        sa.PrimaryKeyConstraint("station_id", "key", name="pk_provisioning"),
    )
    op.create_table(
        "reservations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("station_id", _ID, nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("id_tag", sa.String(255), nullable=False),
        sa.Column("parent_id_tag", sa.String(255)),
        _time("expiry_date", nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        _time("created_at", nullable=False),
        _time("updated_at", nullable=False),
        sa.Column("transaction_id", sa.Integer()),
        sa.Column("detail", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_reservations"),
    )
    _index("reservations", "station_id", "state")
    _index("reservations", "state", "expiry_date")
    op.create_table(
        "local_lists",
        sa.Column("station_id", _ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _time("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("station_id", name="pk_local_lists"),
    )
    op.create_table(
        "local_list_entries",
        sa.Column("station_id", _ID, nullable=False),
        sa.Column("id_tag", sa.String(255), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        _time("expiry_date"),
        sa.Column("parent_id_tag", sa.String(255)),
        sa.PrimaryKeyConstraint("station_id", "id_tag", name="pk_local_list_entries"),
    )
    op.create_table(
        "firmware_files",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        _time("uploaded_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_firmware_files"),
    )
    op.create_table(
        "firmware_jobs",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("station_id", _ID, nullable=False),
        sa.Column("file_id", sa.String(64)),
        sa.Column("location", sa.Text(), nullable=False),
        _time("retrieve_date", nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("last_status", sa.String(50)),
        sa.Column("command_id", sa.BigInteger()),
        sa.Column("detail", sa.Text()),
        _time("created_at", nullable=False),
        _time("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_firmware_jobs"),
    )
    _index("firmware_jobs", "station_id", "created_at")
    op.create_table(
        "diagnostics_jobs",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("station_id", _ID, nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("last_status", sa.String(50)),
        sa.Column("file_name", sa.String(255)),
        sa.Column("size", sa.BigInteger()),
        sa.Column("command_id", sa.BigInteger()),
        sa.Column("detail", sa.Text()),
        _time("created_at", nullable=False),
        _time("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_diagnostics_jobs"),
        sa.UniqueConstraint("token", name="uq_diagnostics_jobs_token"),
    )
    _index("diagnostics_jobs", "station_id", "created_at")
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("key_hash", sa.String(255), nullable=False),
        _time("created_at", nullable=False),
        _time("last_used_at"),
        _time("revoked_at"),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(255), nullable=False),
        sa.Column("event_types", _JSON, nullable=False),
        _time("created_at", nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhooks"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("webhook_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _time("next_attempt_at"),
        sa.Column("last_status_code", sa.Integer()),
        sa.Column("last_error", sa.Text()),
        _time("created_at", nullable=False),
        _time("delivered_at"),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
    )
    _index("webhook_deliveries", "state", "next_attempt_at")
    _index("webhook_deliveries", "webhook_id", "created_at")


def downgrade() -> None:
    for table in (
        "webhook_deliveries",
        "webhooks",
        "api_keys",
        "diagnostics_jobs",
        "firmware_jobs",
        "firmware_files",
        "local_list_entries",
        "local_lists",
        "reservations",
        "provisioning",
        "station_configuration",
        "commands",
    ):
        op.drop_table(table)
