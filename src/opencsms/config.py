"""Typed settings: environment variables ``OPENCSMS_*``, a ``.env`` file, CLI flags.

Every setting has a documented default that gives a working development
server: SQLite and a generated development certificate in ``data_dir``.
CLI flags of ``opencsms serve`` override the environment (see cli/main.py).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class TlsPolicy(StrEnum):
    ELB_TLS_1_2_EXT_2018_06 = "elb-tls-1-2-ext-2018-06"
    """AWS ELBSecurityPolicy-TLS-1-2-Ext-2018-06: TLS 1.2 only, 18 suites."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENCSMS_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("./opencsms-data"), description="Where SQLite and dev certs live.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy async URL; default sqlite+aiosqlite:///<data_dir>/opencsms.db. "
        "Use postgresql+asyncpg://user@host/db for PostgreSQL.",
    )
    sqlite_synchronous: str = Field(
        "FULL", description="SQLite PRAGMA synchronous (FULL survives power loss; NORMAL a crash)."
    )

    ocpp_host: str = Field("0.0.0.0", description="Address the OCPP listener binds.")
    ocpp_port: int = Field(9000, description="Port of the OCPP WebSocket listener.")
    ocpp_path_prefix: str = Field("/ocpp", description="Stations connect to <prefix>/<id>.")
    api_host: str = Field("127.0.0.1", description="Address the operator REST API binds.")
    api_port: int = Field(8080, description="Port of the operator REST API (HTTPS).")

    public_url: str | None = Field(
        None,
        description="How stations reach the API port (firmware downloads, diagnostics "
        "uploads), e.g. https://csms.example.com:8080; default the API's own address.",
    )

    tls_cert_file: Path | None = Field(None, description="RSA server certificate chain (PEM).")
    tls_key_file: Path | None = Field(None, description="Key of tls_cert_file (PEM).")
    tls_ecdsa_cert_file: Path | None = Field(None, description="ECDSA server cert chain (PEM).")
    tls_ecdsa_key_file: Path | None = Field(None, description="Key of tls_ecdsa_cert_file.")
    tls_policy: TlsPolicy = Field(TlsPolicy.ELB_TLS_1_2_EXT_2018_06)
    tls_enable_1_3: bool = Field(False, description="Also offer TLS 1.3 (opt-in).")
    dev_hostnames: list[str] = Field(
        ["localhost", "127.0.0.1", "::1"], description="Names put in the generated dev cert."
    )
    insecure_plain_ws: bool = Field(
        False, description="DEVELOPMENT ONLY: listen with plain ws:// instead of wss://."
    )

    heartbeat_interval: int = Field(300, description="Seconds, sent in BootNotification.conf.")
    response_timeout: float = Field(30.0, description="Seconds to wait for a station's reply.")
    command_sweep_interval: float = Field(
        30.0, description="Seconds between sweeps expiring queued commands past their TTL."
    )
    provisioning_configuration: dict[str, str] = Field(
        {
            "MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import",
            "MeterValueSampleInterval": "60",
        },
        description="Desired configuration brought to every station on connect (JSON object "
        "of key: value). Power.Active.Import refused: Current.Import,Voltage instead.",
    )

    @field_validator("provisioning_configuration", mode="before")
    @classmethod
    def _configuration_values_as_text(cls, value: object) -> object:
        """OCPP values are strings: {"MeterValueSampleInterval": 60} means "60",
        true means "true"."""
        if not isinstance(value, dict):
            return value
        return {
            key: ("true" if item else "false")
            if isinstance(item, bool)
            else str(item)
            if isinstance(item, int | float)
            else item
            for key, item in value.items()
        }

    provisioning_reboot: bool = Field(
        True, description="Soft Reset a station that answers RebootRequired while provisioning."
    )
    provisioning_retry_interval: float = Field(
        300.0, description="Seconds before provisioning that got no answer is tried again."
    )
    reservation_sweep_interval: float = Field(
        30.0, description="Seconds between sweeps marking reservations past expiry expired."
    )
    smart_charging: bool = Field(
        True, description="Plan sessions and push charging profiles (off: commands only)."
    )
    smart_charging_interval: float = Field(
        60.0,
        description="Seconds between smart-charging sweeps: drift and draw checks, "
        "re-sending cut schedules, verifying profiles.",
    )
    smart_charging_default_need_kwh: float = Field(
        20.0, description="Energy planned for a session until its need is set (kWh)."
    )
    smart_charging_default_dwell_hours: float = Field(
        12.0, description="Departure assumed for a session until its need is set (hours)."
    )
    smart_charging_default_power_kw: float = Field(
        7.4, description="A car's power when neither its need nor metering tells (kW)."
    )
    smart_charging_offline_limit_kw: float | None = Field(
        None,
        description="TxDefaultProfile for a station outside any capped site, so it stays "
        "bounded offline (kW; unset: none). Site members get their share of the cap.",
    )
    smart_charging_drift: float = Field(
        0.10, description="Re-plan when metered energy drifts from the plan by this share."
    )
    smart_charging_verify_timeout: float = Field(
        30.0, description="Seconds a GetCompositeSchedule check of a new profile may take."
    )
    handshake_timeout: float = Field(
        60.0,
        description="Seconds a station has to finish TLS and the HTTP upgrade. Generous: "
        "after an outage thousands reconnect at once and queue for the CPU.",
    )
    ping_interval: float = Field(60.0, description="WebSocket ping every N seconds.")
    ping_timeout: float = Field(30.0, description="Close a socket whose pong is this late.")
    max_message_bytes: int = Field(1024 * 1024, description="Larger frames close with 1009.")
    firmware_max_bytes: int = Field(
        512 * 1024 * 1024, description="Largest firmware image an operator may upload."
    )
    diagnostics_max_bytes: int = Field(
        64 * 1024 * 1024, description="Largest diagnostics file a station may upload (413)."
    )
    data_transfer_status: str = Field(
        "Accepted", description="Status answered to DataTransfer (Accepted/Rejected/...)."
    )
    key_hash_cost: int = Field(
        14, description="scrypt cost (log2 N) for stored AuthorizationKey hashes."
    )
    auth_failure_threshold: int = Field(
        5, description="Failed logins per id or address in a minute before throttling."
    )

    log_level: str = Field("INFO")
    log_json: bool = Field(False, description="Log JSON lines instead of console text.")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'opencsms.db').resolve()}"
