"""Indexes for the dashboard's fleet page: with 10,000 stations its problem
lists (offline stations by last seen, faulted connectors, failed
configuration keys, profiles not applied) and the connector counts read an
index range instead of scanning the table on every refresh.

Revision ID: 0007_fleet_page_indexes
Revises: 0006_operators_security
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007_fleet_page_indexes"
down_revision: str | None = "0006_operators_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("ix_stations_last_seen_at", "stations", ["last_seen_at"]),
    ("ix_connector_status_status_updated_at", "connector_status", ["status", "updated_at"]),
    ("ix_provisioning_state_updated_at", "provisioning", ["state", "updated_at"]),
    ("ix_charging_profiles_state_updated_at", "charging_profiles", ["state", "updated_at"]),
)


def upgrade() -> None:
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in _INDEXES:
        op.drop_index(name, table_name=table)
