"""Table definitions (SQLAlchemy Core) shared by the repositories and the migrations.

Why Core and not the ORM: every OCPP message of every station ends in one of
these tables; Core statements skip the identity map and unit-of-work
bookkeeping the ORM would do per row.

Conventions:

* Times go through :class:`UtcDateTime`, which stores UTC and always hands back
  timezone-aware UTC datetimes, on SQLite (which has no time zones) and on
  PostgreSQL (``timestamptz``). A naive datetime is refused rather than guessed.
* Enums are stored as their string values (``VARCHAR``, no native enum type), so
  adding a value never needs an ``ALTER TYPE``.
* No foreign key points at ``stations``: transactions, meter values and history
  are records that must outlive a station's registration.
* Constraint and index names follow :data:`NAMING_CONVENTION`, so Alembic can
  address them by name on both backends.

The initial migration (``migrations/versions/0001_initial.py``) creates exactly
these tables; change both together.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

from opencsms.domain.model import TagStatus

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """A ``DateTime`` that is stored in UTC and always read back aware, in UTC.

    SQLite keeps ``DATETIME`` as fixed-width text without an offset, so values
    are converted to UTC and stripped of their tzinfo before binding (the
    fixed width keeps text comparison and ordering correct). PostgreSQL stores
    ``timestamptz``; asyncpg returns it aware already, normalised here to UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: opencsms stores aware UTC times only")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _enum_values(enum: type[TagStatus]) -> list[str]:
    return [member.value for member in enum]


TAG_STATUS = Enum(
    TagStatus,
    name="tag_status",
    native_enum=False,
    create_constraint=False,
    length=20,
    values_callable=_enum_values,
    validate_strings=True,
)

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BIG_ID = BigInteger().with_variant(Integer(), "sqlite")
PAYLOAD_JSON: Any = JSON().with_variant(JSONB(), "postgresql")


stations = Table(
    "stations",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("auth_key_hash", Text, nullable=True),
    Column("registered_at", UtcDateTime, nullable=False),
    Column("lenient_validation", Boolean, nullable=False, default=False),
    # BootNotification fields; info_vendor IS NULL means "never booted".
    Column("info_vendor", String(255)),
    Column("info_model", String(255)),
    Column("info_serial_number", String(255)),
    Column("info_charge_box_serial_number", String(255)),
    Column("info_firmware_version", String(255)),
    Column("info_iccid", String(255)),
    Column("info_imsi", String(255)),
    Column("info_meter_type", String(255)),
    Column("info_meter_serial_number", String(255)),
    Column("last_boot_at", UtcDateTime),
    Column("last_seen_at", UtcDateTime),
    Index(None, "last_seen_at"),  # the dashboard's offline stations, newest first
)


def _status_report_columns() -> list[Column[Any]]:
    """One StatusNotification as stored: the current status and its history
    hold the same fields (fresh Column objects: a Column belongs to one table)."""
    return [
        Column("station_id", String(255), nullable=False),
        Column("connector_id", Integer, nullable=False),
        Column("status", String(50), nullable=False),
        Column("error_code", String(50), nullable=False),
        Column("updated_at", UtcDateTime, nullable=False),
        Column("timestamp", UtcDateTime),
        Column("info", String(255)),
        Column("vendor_id", String(255)),
        Column("vendor_error_code", String(255)),
    ]


connector_status = Table(
    "connector_status",
    metadata,
    *_status_report_columns(),
    PrimaryKeyConstraint("station_id", "connector_id"),
    Index(None, "status", "updated_at"),  # the dashboard's counts and faulted connectors
)

status_history = Table(
    "status_history",
    metadata,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
    *_status_report_columns(),
    Index(None, "station_id", "updated_at"),
)

id_tags = Table(
    "id_tags",
    metadata,
    Column("id_tag", String(255), primary_key=True),
    Column("status", TAG_STATUS, nullable=False),
    Column("expiry_date", UtcDateTime),
    Column("parent_id_tag", String(255)),
)

transactions = Table(
    "transactions",
    metadata,
    # The OCPP transactionId: a 32-bit integer on the wire, unique system-wide.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("id_tag", String(255), nullable=False),
    Column("tag_status", TAG_STATUS, nullable=False),
    Column("meter_start", BigInteger, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("reservation_id", Integer),
    Column("meter_stop", BigInteger),
    Column("stopped_at", UtcDateTime),
    Column("stop_reason", String(50)),
    Column("stop_id_tag", String(255)),
    Column("energy_wh", BigInteger),
    Column("meter_anomaly", Boolean, nullable=False, default=False),
    # Replay detection (find_start) is a lookup on exactly these columns.
    UniqueConstraint(
        "station_id",
        "connector_id",
        "id_tag",
        "started_at",
        "meter_start",
        name="uq_transactions_start_identity",
    ),
    Index(None, "station_id", "started_at"),
)
# Partial index: only active transactions are ever looked up by tag.
Index(
    "ix_transactions_active_id_tag",
    transactions.c.id_tag,
    sqlite_where=transactions.c.stopped_at.is_(None),
    postgresql_where=transactions.c.stopped_at.is_(None),
)

orphan_stops = Table(
    "orphan_stops",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False),
    Column("reported_transaction_id", BigInteger, nullable=False),
    Column("meter_stop", BigInteger, nullable=False),
    Column("stopped_at", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("reason", String(50)),
    Column("id_tag", String(255)),
    Index(None, "station_id", "reported_transaction_id"),
)

meter_values = Table(
    "meter_values",
    metadata,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("transaction_id", Integer),  # ours; no FK: samples may arrive first
    Column("reported_transaction_id", BigInteger),  # as the station sent it
    Column("timestamp", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("value", String(255), nullable=False),
    Column("measurand", String(100), nullable=False),
    Column("unit", String(50)),
    Column("phase", String(10)),
    Column("context", String(50)),
    Column("location", String(50)),
    Column("format", String(20)),
    # serves for_transaction and the sweep's for_transaction_since (a range
    # from a bookend reading, not every sample of the session) (migration 0005)
    Index(None, "transaction_id", "timestamp"),
    # serves for_station (a prefix) and the duplicate check of a resent
    # MeterValues (pending.py) exactly, even for a station with a stuck clock
    Index(None, "station_id", "timestamp", "measurand", "value"),
)

station_events = Table(
    "station_events",
    metadata,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False),
    Column("kind", String(100), nullable=False),
    Column("payload", PAYLOAD_JSON, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Index(None, "station_id", "received_at"),
)


# -- operator data: commands, provisioning, reservations, local lists,
# -- firmware and diagnostics jobs, API keys, webhooks (migration 0002) -----

commands = Table(
    "commands",
    metadata,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False),
    Column("action", String(50), nullable=False),
    Column("payload", PAYLOAD_JSON, nullable=False),
    Column("requested_by", String(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("state", String(20), nullable=False),
    Column("expires_at", UtcDateTime),
    Column("sent_at", UtcDateTime),
    Column("finished_at", UtcDateTime),
    Column("status", String(50)),
    Column("response", PAYLOAD_JSON),
    Column("error", Text),
    Index(None, "station_id", "created_at"),
    # the durable queue: a station's queued commands, in order
    Index(None, "station_id", "state", "id"),
)

station_configuration = Table(
    "station_configuration",
    metadata,
    Column("station_id", String(255), nullable=False),
    Column("key", String(500), nullable=False),
    Column("value", Text),
    Column("readonly", Boolean, nullable=False),
    Column("reported_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("station_id", "key"),
)

provisioning = Table(
    "provisioning",
    metadata,
    Column("station_id", String(255), nullable=False),
    Column("key", String(500), nullable=False),
    Column("desired_value", Text, nullable=False),
    Column("state", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("detail", Text),
    PrimaryKeyConstraint("station_id", "key"),
    Index(None, "state", "updated_at"),  # the dashboard's failed keys
)

reservations = Table(
    "reservations",
    metadata,
    # the OCPP reservationId: a 32-bit integer on the wire, unique system-wide
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("id_tag", String(255), nullable=False),
    Column("parent_id_tag", String(255)),
    Column("expiry_date", UtcDateTime, nullable=False),
    Column("state", String(20), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("transaction_id", Integer),
    Column("detail", Text),
    Index(None, "station_id", "state"),
    Index(None, "state", "expiry_date"),
)

local_lists = Table(
    "local_lists",
    metadata,
    Column("station_id", String(255), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

local_list_entries = Table(
    "local_list_entries",
    metadata,
    Column("station_id", String(255), nullable=False),
    Column("id_tag", String(255), nullable=False),
    Column("status", TAG_STATUS, nullable=False),
    Column("expiry_date", UtcDateTime),
    Column("parent_id_tag", String(255)),
    PrimaryKeyConstraint("station_id", "id_tag"),
)

firmware_files = Table(
    "firmware_files",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("uploaded_at", UtcDateTime, nullable=False),
)

firmware_jobs = Table(
    "firmware_jobs",
    metadata,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False),
    Column("file_id", String(64)),
    Column("location", Text, nullable=False),
    Column("retrieve_date", UtcDateTime, nullable=False),
    Column("state", String(20), nullable=False),
    Column("last_status", String(50)),
    Column("command_id", BigInteger),
    Column("detail", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "station_id", "created_at"),
)

diagnostics_jobs = Table(
    "diagnostics_jobs",
    metadata,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
    Column("station_id", String(255), nullable=False),
    Column("token", String(64), nullable=False, unique=True),
    Column("state", String(20), nullable=False),
    Column("last_status", String(50)),
    Column("file_name", String(255)),
    Column("size", BigInteger),
    Column("command_id", BigInteger),
    Column("detail", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "station_id", "created_at"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("role", String(20), nullable=False),
    Column("key_hash", String(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
)

# -- dashboard operators, their sessions, security events (migration 0006)

operators = Table(
    "operators",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(20), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("disabled_at", UtcDateTime),
)

operator_sessions = Table(
    "operator_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column(
        "operator",
        String(64),
        ForeignKey("operators.name", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("role", String(20), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
)

security_events = Table(
    "security_events",
    metadata,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("remote", String(255)),
    Column("detail", Text, nullable=False),
    Index(None, "kind", "id"),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
    Column("url", Text, nullable=False),
    Column("secret", String(255), nullable=False),
    Column("event_types", PAYLOAD_JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("active", Boolean, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
    Column("webhook_id", BigInteger, nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("payload", PAYLOAD_JSON, nullable=False),
    Column("state", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime),
    Index(None, "state", "next_attempt_at"),
    Index(None, "webhook_id", "created_at"),
)


# -- live smart charging: signals, sites, needs, plans, profiles (migration 0003)

signal_rates = Table(
    "signal_rates",
    metadata,
    Column("series", String(100), nullable=False),
    Column("start_at", UtcDateTime, nullable=False),
    Column("end_at", UtcDateTime, nullable=False),
    Column("value", Float, nullable=False),
    Column("unit", String(50), nullable=False),
    PrimaryKeyConstraint("series", "start_at"),
    # windows are near "now" and ahead of it: found from their start by end_at
    Index(None, "series", "end_at"),
)

sites = Table(
    "sites",
    metadata,
    Column("site_id", String(255), primary_key=True),
    Column("name", String(255), nullable=False),
    # limit_value IS NULL means "no shared cap"; the other limit_* are then NULL too.
    Column("limit_value", Float),
    Column("limit_unit", String(10)),
    Column("limit_phases", Integer),
    Column("limit_voltage", Float),
    Column("price_series", String(100), nullable=False),
    Column("co2_series", String(100), nullable=False),
    Column("objective_mode", String(20), nullable=False),
    Column("objective_lam", Float, nullable=False),
)

site_members = Table(
    "site_members",
    metadata,
    Column("station_id", String(255), primary_key=True),
    Column("site_id", String(255), nullable=False),
    Index(None, "site_id"),
)

flex_events = Table(
    "flex_events",
    metadata,
    Column("site_id", String(255), nullable=False),
    Column("event_id", String(255), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("modification_number", Integer, nullable=False),
    Column("cancelled", Boolean, nullable=False),
    Column("unit", String(50)),
    Column("intervals", PAYLOAD_JSON, nullable=False),  # [{start, end, value}], ISO UTC
    Column("received_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("site_id", "event_id"),
)

charging_needs = Table(
    "charging_needs",
    metadata,
    Column("transaction_id", Integer, primary_key=True, autoincrement=False),
    Column("energy_kwh", Float, nullable=False),
    Column("departure", UtcDateTime, nullable=False),
    Column("set_by", String(255), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("max_power_kw", Float),
    Column("precondition_minutes", Integer, nullable=False),
    Column("continuous", Boolean, nullable=False),
)

charging_modes = Table(
    "charging_modes",
    metadata,
    Column("station_id", String(255), primary_key=True),
    Column("mode", String(10), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

charging_plans = Table(
    "charging_plans",
    metadata,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
    Column("transaction_id", Integer, nullable=False),
    Column("station_id", String(255), nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("method", String(20), nullable=False),
    Column("segments", PAYLOAD_JSON, nullable=False),  # [{start, end, power_kw}], ISO UTC
    Column("need_kwh", Float, nullable=False),
    Column("shortfall_kwh", Float, nullable=False),
    Column("unplanned_kwh", Float, nullable=False),
    Column("charge_now", Boolean, nullable=False),
    Column("cost", Float),
    Column("co2_g", Float),
    Column("baseline_cost", Float),
    Column("baseline_co2_g", Float),
    Column("notes", PAYLOAD_JSON, nullable=False),
    Index(None, "transaction_id", "id"),
)

charging_profiles = Table(
    "charging_profiles",
    metadata,
    Column("station_id", String(255), nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("purpose", String(30), nullable=False),
    Column("profile_id", Integer, nullable=False),
    Column("payload", PAYLOAD_JSON, nullable=False),
    Column("state", String(20), nullable=False),
    Column("step", String(30), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("transaction_id", Integer),
    Column("resend_at", UtcDateTime),
    Column("detail", Text),
    PrimaryKeyConstraint("station_id", "connector_id", "purpose"),
    Index(None, "resend_at"),
    Index(None, "state", "updated_at"),  # the dashboard's profiles not applied
)

learned_profile_options = Table(
    "learned_profile_options",
    metadata,
    Column("vendor", String(255), nullable=False),
    Column("model", String(255), nullable=False),
    Column("stack_level_0", Boolean, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("unit", String(5)),
    Column("max_periods", Integer),
    Column("learned_at", UtcDateTime),
    Column("detail", Text),
    PrimaryKeyConstraint("vendor", "model"),
)
