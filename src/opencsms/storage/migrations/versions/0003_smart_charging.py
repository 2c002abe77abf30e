"""Live smart charging: signal series, sites with their members and flexibility
events, charging needs and switches, plans, charging profiles as sent, and the
profile options learned per station model.

Revision ID: 0003_smart_charging
Revises: 0002_operations
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_smart_charging"
down_revision: str | None = "0002_operations"
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
        "signal_rates",
        sa.Column("series", sa.String(100), nullable=False),
        _time("start_at", nullable=False),
        _time("end_at", nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(50), nullable=False),
        sa.PrimaryKeyConstraint("series", "start_at", name="pk_signal_rates"),
    )
    _index("signal_rates", "series", "end_at")
    op.create_table(
        "sites",
        sa.Column("site_id", _ID, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("limit_value", sa.Float()),
        sa.Column("limit_unit", sa.String(10)),
        sa.Column("limit_phases", sa.Integer()),
        sa.Column("limit_voltage", sa.Float()),
        sa.Column("price_series", sa.String(100), nullable=False),
        sa.Column("co2_series", sa.String(100), nullable=False),
        sa.Column("objective_mode", sa.String(20), nullable=False),
        sa.Column("objective_lam", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", name="pk_sites"),
    )
    op.create_table(
        "site_members",
        sa.Column("station_id", _ID, nullable=False),
        sa.Column("site_id", _ID, nullable=False),
        sa.PrimaryKeyConstraint("station_id", name="pk_site_members"),
    )
    _index("site_members", "site_id")
    op.create_table(
        "flex_events",
        sa.Column("site_id", _ID, nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("modification_number", sa.Integer(), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("unit", sa.String(50)),
        sa.Column("intervals", _JSON, nullable=False),
        _time("received_at", nullable=False),
        sa.PrimaryKeyConstraint("site_id", "event_id", name="pk_flex_events"),
    )
    op.create_table(
        "charging_needs",
        sa.Column("transaction_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("energy_kwh", sa.Float(), nullable=False),
        _time("departure", nullable=False),
        sa.Column("set_by", sa.String(255), nullable=False),
        _time("updated_at", nullable=False),
        sa.Column("max_power_kw", sa.Float()),
        sa.Column("precondition_minutes", sa.Integer(), nullable=False),
        sa.Column("continuous", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("transaction_id", name="pk_charging_needs"),
    )
    op.create_table(
        "charging_modes",
        sa.Column("station_id", _ID, nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        _time("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("station_id", name="pk_charging_modes"),
    )
    op.create_table(
        "charging_plans",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=False),
        sa.Column("station_id", _ID, nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        _time("created_at", nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("method", sa.String(20), nullable=False),
        sa.Column("segments", _JSON, nullable=False),
        sa.Column("need_kwh", sa.Float(), nullable=False),
        sa.Column("shortfall_kwh", sa.Float(), nullable=False),
        sa.Column("unplanned_kwh", sa.Float(), nullable=False),
        sa.Column("charge_now", sa.Boolean(), nullable=False),
        sa.Column("cost", sa.Float()),
        sa.Column("co2_g", sa.Float()),
        sa.Column("baseline_cost", sa.Float()),
        sa.Column("baseline_co2_g", sa.Float()),
        sa.Column("notes", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_charging_plans"),
    )
    _index("charging_plans", "transaction_id", "id")
    op.create_table(
        "charging_profiles",
        sa.Column("station_id", _ID, nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(30), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("step", sa.String(30), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _time("updated_at", nullable=False),
        sa.Column("transaction_id", sa.Integer()),
        _time("resend_at"),
        sa.Column("detail", sa.Text()),
        sa.PrimaryKeyConstraint(
            "station_id", "connector_id", "purpose", name="pk_charging_profiles"
        ),
    )
    _index("charging_profiles", "resend_at")
    op.create_table(
        "learned_profile_options",
        sa.Column("vendor", sa.String(255), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("stack_level_0", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("unit", sa.String(5)),
        _time("learned_at"),
        sa.Column("detail", sa.Text()),
        sa.PrimaryKeyConstraint("vendor", "model", name="pk_learned_profile_options"),
    )


def downgrade() -> None:
    for table in (
        "learned_profile_options",
        "charging_profiles",
        "charging_plans",
        "charging_modes",
        "charging_needs",
        "flex_events",
        "site_members",
        "sites",
        "signal_rates",
    ):
        op.drop_table(table)
