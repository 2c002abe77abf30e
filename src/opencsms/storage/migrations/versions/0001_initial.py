"""Initial schema: stations, connector status and history, id tags, transactions,
orphan stops, meter values, station events.

Types are spelled out here (not imported from ``tables``) so this revision keeps
describing the schema it created when ``tables.py`` moves on.

Revision ID: 0001_initial
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.String(255)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _status_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("station_id", _ID, nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(50), nullable=False),
        sa.Column("error_code", sa.String(50), nullable=False),
        _time("updated_at", nullable=False),
        _time("timestamp"),
        sa.Column("info", sa.String(255)),
        sa.Column("vendor_id", sa.String(255)),
        sa.Column("vendor_error_code", sa.String(255)),
    ]


def upgrade() -> None:
    op.create_table(
        "stations",
        sa.Column("id", _ID, nullable=False),
        sa.Column("auth_key_hash", sa.Text()),
        _time("registered_at", nullable=False),
        sa.Column("lenient_validation", sa.Boolean(), nullable=False),
        *(
            sa.Column(f"info_{name}", sa.String(255))
            for name in (
                "vendor",
                "model",
                "serial_number",
                "charge_box_serial_number",
                "firmware_version",
                "iccid",
                "imsi",
                "meter_type",
                "meter_serial_number",
            )
        ),
        _time("last_boot_at"),
        _time("last_seen_at"),
        sa.PrimaryKeyConstraint("id", name="pk_stations"),
    )
    op.create_table(
        "connector_status",
        *_status_columns(),
        sa.PrimaryKeyConstraint("station_id", "connector_id", name="pk_connector_status"),
    )
    op.create_table(
        "status_history",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        *_status_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_status_history"),
    )
    op.create_index(
        "ix_status_history_station_id_updated_at", "status_history", ["station_id", "updated_at"]
    )
    op.create_table(
        "id_tags",
        sa.Column("id_tag", sa.String(255), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        _time("expiry_date"),
        sa.Column("parent_id_tag", sa.String(255)),
        sa.PrimaryKeyConstraint("id_tag", name="pk_id_tags"),
    )
    op.create_table(
        "transactions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("station_id", _ID, nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("id_tag", sa.String(255), nullable=False),
        sa.Column("tag_status", sa.String(20), nullable=False),
        sa.Column("meter_start", sa.BigInteger(), nullable=False),
        _time("started_at", nullable=False),
        sa.Column("reservation_id", sa.Integer()),
        sa.Column("meter_stop", sa.BigInteger()),
        _time("stopped_at"),
        sa.Column("stop_reason", sa.String(50)),
        sa.Column("stop_id_tag", sa.String(255)),
        sa.Column("energy_wh", sa.BigInteger()),
        sa.Column("meter_anomaly", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_transactions"),
        sa.UniqueConstraint(
            "station_id",
            "connector_id",
            "id_tag",
            "started_at",
            "meter_start",
            name="uq_transactions_start_identity",
        ),
    )
    op.create_index(
        "ix_transactions_station_id_started_at", "transactions", ["station_id", "started_at"]
    )
    op.create_index(
        "ix_transactions_active_id_tag",
        "transactions",
        ["id_tag"],
        sqlite_where=sa.text("stopped_at IS NULL"),
        postgresql_where=sa.text("stopped_at IS NULL"),
    )
    op.create_table(
        "orphan_stops",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("station_id", _ID, nullable=False),
        sa.Column("reported_transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("meter_stop", sa.BigInteger(), nullable=False),
        _time("stopped_at", nullable=False),
        _time("received_at", nullable=False),
        sa.Column("reason", sa.String(50)),
        sa.Column("id_tag", sa.String(255)),
        sa.PrimaryKeyConstraint("id", name="pk_orphan_stops"),
    )
    op.create_index(
        "ix_orphan_stops_station_id_reported_transaction_id",
        "orphan_stops",
        ["station_id", "reported_transaction_id"],
    )
    op.create_table(
        "meter_values",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("station_id", _ID, nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.Integer()),
        sa.Column("reported_transaction_id", sa.BigInteger()),
        _time("timestamp", nullable=False),
        _time("received_at", nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("measurand", sa.String(100), nullable=False),
        sa.Column("unit", sa.String(50)),
        sa.Column("phase", sa.String(10)),
        sa.Column("context", sa.String(50)),
        sa.Column("location", sa.String(50)),
        sa.Column("format", sa.String(20)),
        sa.PrimaryKeyConstraint("id", name="pk_meter_values"),
    )
    op.create_index("ix_meter_values_transaction_id", "meter_values", ["transaction_id"])
    op.create_index(
        "ix_meter_values_station_id_timestamp_measurand_value",
        "meter_values",
        ["station_id", "timestamp", "measurand", "value"],
    )
    op.create_table(
        "station_events",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("station_id", _ID, nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        _time("received_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_station_events"),
    )
    op.create_index(
        "ix_station_events_station_id_received_at",
        "station_events",
        ["station_id", "received_at"],
    )


def downgrade() -> None:
    for table in (
        "station_events",
        "meter_values",
        "orphan_stops",
        "transactions",
        "id_tags",
        "status_history",
        "connector_status",
        "stations",
    ):
        op.drop_table(table)
