"""Learned profile options remember the most schedule periods a station model
accepts, for stations that refuse schedules their ``ChargingScheduleMaxPeriods``
says they take.

Revision ID: 0004_learned_max_periods
Revises: 0003_smart_charging
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_learned_max_periods"
down_revision: str | None = "0003_smart_charging"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("learned_profile_options", sa.Column("max_periods", sa.Integer()))


def downgrade() -> None:
    with op.batch_alter_table("learned_profile_options") as batch:
        batch.drop_column("max_periods")
