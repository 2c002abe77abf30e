"""The station's configuration keys, with the rules of OCPP 1.6 section 9.

Values are held as the strings that travel in Get/ChangeConfiguration, each
key described by a :class:`KeySpec` (type, read-only, write-only, reboot
required, allowed list items). ChangeConfiguration answers:

- ``NotSupported`` for an unknown key;
- ``Rejected`` for a read-only key or a value of the wrong type/range, or a
  comma-separated list with an unsupported item or too many items;
- ``RebootRequired`` when the key only takes effect after a reboot (the new
  value is stored now; the station applies it when it boots);
- ``Accepted`` otherwise; listeners registered with :meth:`on_change` are
  told so the station can, e.g., restart its heartbeat timer.

``AuthorizationKey`` (OCPP 1.6 Security whitepaper) is write-only: it never
appears in a GetConfiguration answer, not even when asked for by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from ocpp.v16.enums import ConfigurationStatus, Measurand


class Kind(StrEnum):
    BOOL = "bool"
    INT = "int"
    LIST = "list"  # comma-separated list
    TEXT = "text"


MEASURANDS = frozenset(m.value for m in Measurand)
SUPPORTED_MEASURANDS = frozenset(
    {
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Current.Offered",
        "Power.Offered",
        "Voltage",
        "SoC",
        "Temperature",
    }
)
"""What the metering code can produce; others are Rejected in *SampledData keys."""

PROFILES = frozenset(
    {
        "Core",
        "FirmwareManagement",
        "LocalAuthListManagement",
        "Reservation",
        "SmartCharging",
        "RemoteTrigger",
    }
)


@dataclass(frozen=True, slots=True)
class KeySpec:
    name: str
    kind: Kind
    default: str
    readonly: bool = False
    writeonly: bool = False
    reboot_required: bool = False
    items: frozenset[str] | None = None  # allowed items of a LIST
    max_items_key: str | None = None  # key holding the maximum list length
    minimum: int | None = 0  # for INT
    min_length: int = 0  # for TEXT


def _b(name: str, default: bool, **kw: object) -> KeySpec:
    return KeySpec(name, Kind.BOOL, "true" if default else "false", **kw)  # type: ignore[arg-type]


def _i(name: str, default: int, **kw: object) -> KeySpec:
    return KeySpec(name, Kind.INT, str(default), **kw)  # type: ignore[arg-type]


def _measurands(name: str, default: str) -> KeySpec:
    return KeySpec(
        name, Kind.LIST, default, items=SUPPORTED_MEASURANDS, max_items_key=f"{name}MaxLength"
    )


STANDARD_KEYS: tuple[KeySpec, ...] = (
    # Core
    _b("AllowOfflineTxForUnknownId", False),
    _b("AuthorizationCacheEnabled", True),
    _b("AuthorizeRemoteTxRequests", False),
    _i("BlinkRepeat", 3),
    _i("ClockAlignedDataInterval", 0),
    _i("ConnectionTimeOut", 120),
    KeySpec("ConnectorPhaseRotation", Kind.LIST, "0.RST", reboot_required=True),
    _i("ConnectorPhaseRotationMaxLength", 2, readonly=True),
    _i("GetConfigurationMaxKeys", 100, readonly=True),
    _i("HeartbeatInterval", 300),
    _i("LightIntensity", 100),
    _b("LocalAuthorizeOffline", True),
    _b("LocalPreAuthorize", False),
    _i("MaxEnergyOnInvalidId", 0),
    _measurands("MeterValuesAlignedData", "Energy.Active.Import.Register"),
    _i("MeterValuesAlignedDataMaxLength", 8, readonly=True),
    _measurands("MeterValuesSampledData", "Energy.Active.Import.Register,Power.Active.Import"),
    _i("MeterValuesSampledDataMaxLength", 8, readonly=True),
    _i("MeterValueSampleInterval", 60),
    _i("MinimumStatusDuration", 0),
    _i("NumberOfConnectors", 1, readonly=True),
    _i("ResetRetries", 1),
    _b("StopTransactionOnEVSideDisconnect", True),
    _b("StopTransactionOnInvalidId", True),
    _measurands("StopTxnAlignedData", ""),
    _i("StopTxnAlignedDataMaxLength", 8, readonly=True),
    _measurands("StopTxnSampledData", "Energy.Active.Import.Register"),
    _i("StopTxnSampledDataMaxLength", 8, readonly=True),
    KeySpec(
        "SupportedFeatureProfiles",
        Kind.LIST,
        ",".join(sorted(PROFILES)),
        readonly=True,
        items=PROFILES,
    ),
    _i("SupportedFeatureProfilesMaxLength", 6, readonly=True),
    _i("TransactionMessageAttempts", 3),
    _i("TransactionMessageRetryInterval", 30),
    _b("UnlockConnectorOnEVSideDisconnect", True),
    _i("WebSocketPingInterval", 0, reboot_required=True),
    # Local auth list management
    _b("LocalAuthListEnabled", True),
    _i("LocalAuthListMaxLength", 1000, readonly=True),
    _i("SendLocalListMaxLength", 100, readonly=True),
    # Reservation
    _b("ReserveConnectorZeroSupported", True, readonly=True),
    # Smart charging
    _i("ChargeProfileMaxStackLevel", 10, readonly=True),
    KeySpec(
        "ChargingScheduleAllowedChargingRateUnit",
        Kind.LIST,
        "Current,Power",
        readonly=True,
        items=frozenset({"Current", "Power"}),
    ),
    _i("ChargingScheduleMaxPeriods", 24, readonly=True),
    _b("ConnectorSwitch3to1PhaseSupported", False, readonly=True),
    _i("MaxChargingProfilesInstalled", 10, readonly=True),
    # Security whitepaper
    KeySpec("AuthorizationKey", Kind.TEXT, "", writeonly=True, min_length=16),
    _i("SecurityProfile", 2),
    KeySpec("CpoName", Kind.TEXT, ""),
)

VALUE_MAX_LENGTH = 500


class ConfigurationStore:
    """Key/value store with 1.6 semantics. ``values`` overrides defaults and
    ``specs`` adds or replaces key descriptions (vendor keys, read-only flips)."""

    def __init__(self, values: dict[str, str] | None = None, specs: Iterable[KeySpec] = ()) -> None:
        self._specs: dict[str, KeySpec] = {s.name: s for s in STANDARD_KEYS}
        for spec in specs:
            self._specs[spec.name] = spec
        self._values = {name: spec.default for name, spec in self._specs.items()}
        for name, value in (values or {}).items():
            if name not in self._specs:
                self._specs[name] = KeySpec(name, Kind.TEXT, value)
            self._values[name] = value
        self._listeners: list[Callable[[str, str], None]] = []

    # -- typed reads ---------------------------------------------------------

    def get(self, name: str) -> str | None:
        return self._values.get(name)

    def get_int(self, name: str, default: int = 0) -> int:
        try:
            return int(self._values.get(name, default))
        except ValueError:
            return default

    def get_bool(self, name: str, default: bool = False) -> bool:
        value = self._values.get(name)
        return default if value is None else value.strip().lower() == "true"

    def get_list(self, name: str) -> list[str]:
        return [item.strip() for item in self._values.get(name, "").split(",") if item.strip()]

    def spec(self, name: str) -> KeySpec | None:
        return self._specs.get(name)

    def on_change(self, listener: Callable[[str, str], None]) -> None:
        self._listeners.append(listener)

    # -- OCPP operations -----------------------------------------------------

    def change(self, name: str, value: str) -> ConfigurationStatus:
        """ChangeConfiguration.req semantics (key names are case-sensitive in 1.6)."""
        spec = self._specs.get(name)
        if spec is None:
            return ConfigurationStatus.not_supported
        if spec.readonly or not self._valid(spec, value):
            return ConfigurationStatus.rejected
        if spec.kind is Kind.BOOL:
            value = value.strip().lower()
        self._values[name] = value
        for listener in self._listeners:
            listener(name, value)
        if spec.reboot_required:
            return ConfigurationStatus.reboot_required
        return ConfigurationStatus.accepted

    def set_internal(self, name: str, value: str) -> None:
        """Set any key (read-only included), as the firmware itself may."""
        if name not in self._specs:
            self._specs[name] = KeySpec(name, Kind.TEXT, value)
        self._values[name] = value

    def get_configuration(
        self, keys: list[str] | None
    ) -> tuple[list[dict[str, object]], list[str]]:
        """GetConfiguration.conf: (configurationKey, unknownKey)."""
        names = keys or [n for n, s in self._specs.items() if not s.writeonly]
        limit = self.get_int("GetConfigurationMaxKeys", 100) if keys else len(names)
        known: list[dict[str, object]] = []
        unknown: list[str] = []
        for name in names[:limit]:
            spec = self._specs.get(name)
            if spec is None or spec.writeonly:
                unknown.append(name)
                continue
            known.append({"key": name, "readonly": spec.readonly, "value": self._values[name]})
        return known, unknown

    def _valid(self, spec: KeySpec, value: str) -> bool:
        if len(value) > VALUE_MAX_LENGTH:
            return False
        if spec.kind is Kind.BOOL:
            return value.strip().lower() in ("true", "false")
        if spec.kind is Kind.INT:
            try:
                number = int(value.strip())
            except ValueError:
                return False
            if spec.name == "SecurityProfile" and number < self.get_int("SecurityProfile"):
                return False  # Security whitepaper: the profile may only be raised
            return spec.minimum is None or number >= spec.minimum
        if spec.kind is Kind.LIST:
            items = [i.strip() for i in value.split(",") if i.strip()]
            if spec.items is not None and any(i not in spec.items for i in items):
                return False
            if spec.max_items_key is not None:
                return len(items) <= self.get_int(spec.max_items_key, len(items))
            return True
        return len(value) >= spec.min_length
