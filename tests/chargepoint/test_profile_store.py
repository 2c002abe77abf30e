from __future__ import annotations

from typing import Any

from opencsms.chargepoint.smart_charging import ChargingProfile, ProfileLimits, ProfileStore

LIMITS = ProfileLimits(
    max_stack_level=3, max_periods=2, allowed_units=frozenset({"A"}), max_installed=3
)


def make(
    pid: int, purpose: str = "TxDefaultProfile", stack: int = 0, **extra: Any
) -> ChargingProfile:
    data: dict[str, Any] = {
        "chargingProfileId": pid,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": extra.pop("unit", "A"),
            "chargingSchedulePeriod": extra.pop("periods", [{"startPeriod": 0, "limit": 16}]),
        },
    }
    data.update(extra)
    return ChargingProfile.from_payload(data)


def test_install_rules() -> None:
    store = ProfileStore()

    def install(connector: int, p: ChargingProfile, tx: int | None = None) -> str | None:
        return store.install(connector, p, active_transaction=tx, limits=LIMITS)

    assert install(1, make(1, "ChargePointMaxProfile")) is not None  # only connector 0
    assert install(0, make(1, "ChargePointMaxProfile")) is None
    assert install(1, make(2, "TxProfile")) is not None  # no transaction
    assert install(0, make(2, "TxProfile"), tx=5) is not None  # never connector 0
    assert install(1, make(2, "TxProfile", transactionId=6), tx=5) is not None
    assert install(1, make(2, "TxProfile", transactionId=5), tx=5) is None
    assert install(1, make(3, stack=4)) is not None  # above ChargeProfileMaxStackLevel
    assert install(1, make(3, unit="W")) is not None  # unit not allowed
    three = [{"startPeriod": s, "limit": 10} for s in (0, 60, 120)]
    assert install(1, make(3, periods=three)) is not None
    assert install(1, make(3, chargingProfileKind="Recurring")) is not None  # no recurrency


def test_replacement_by_id_and_by_purpose_and_stack() -> None:
    store = ProfileStore()
    store.install(1, make(1, stack=1), active_transaction=None, limits=LIMITS)
    store.install(2, make(1, stack=2), active_transaction=None, limits=LIMITS)  # same id moves
    assert [(i.connector_id, i.profile.stack_level) for i in store.installed] == [(2, 2)]
    store.install(2, make(9, stack=2), active_transaction=None, limits=LIMITS)  # same purpose+stack
    assert [i.profile.id for i in store.installed] == [9]
    store.install(1, make(10, stack=2), active_transaction=None, limits=LIMITS)  # other connector
    assert sorted(i.profile.id for i in store.installed) == [9, 10]


def test_max_installed() -> None:
    store = ProfileStore()
    for pid in range(3):
        assert (
            store.install(1, make(pid, stack=pid), active_transaction=None, limits=LIMITS) is None
        )
    assert store.install(1, make(7, stack=3), active_transaction=None, limits=LIMITS)


def test_clear_filters_and_transaction_end() -> None:
    store = ProfileStore()
    store.install(0, make(1, "ChargePointMaxProfile"), active_transaction=None, limits=LIMITS)
    store.install(1, make(2, stack=1), active_transaction=None, limits=LIMITS)
    store.install(1, make(3, "TxProfile"), active_transaction=4, limits=LIMITS)
    assert not store.clear(profile_id=99)
    assert store.clear(connector_id=1, purpose="TxDefaultProfile", stack_level=1)  # type: ignore[arg-type]
    assert [i.profile.id for i in store.installed] == [1, 3]
    store.end_transaction(1)
    assert [i.profile.id for i in store.installed] == [1]
    assert store.clear()
    assert store.installed == []


def test_ignore_rules_answer_accepted_but_install_nothing() -> None:
    store = ProfileStore(ignores=[lambda _c, p: "ignored" if p.stack_level > 0 else None])
    assert store.install(1, make(1, stack=1), active_transaction=None, limits=LIMITS) is None
    assert store.installed == [] and [p.id for p in store.ignored] == [1]
    assert store.install(1, make(1, stack=0), active_transaction=None, limits=LIMITS) is None
    assert [i.profile.id for i in store.installed] == [1]
    # a real rejection still wins over an ignore rule
    assert store.install(1, make(2, stack=4), active_transaction=None, limits=LIMITS)
