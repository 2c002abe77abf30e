"""Configuration snapshots and provisioning items, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opencsms.domain.model import ConfigurationEntry, ProvisioningItem, ProvisioningState
from opencsms.domain.ports import Repositories
from opencsms.storage import SqlUnitOfWork

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def entry(
    key: str, value: str | None, station_id: str = "CP-1", **kw: object
) -> ConfigurationEntry:
    fields: dict[str, object] = {"readonly": False, "reported_at": T0}
    fields.update(kw)
    return ConfigurationEntry(station_id, key, value, **fields)  # type: ignore[arg-type]


async def test_snapshot_is_replaced_as_a_whole(uow: SqlUnitOfWork) -> None:
    first = [entry("B", "2"), entry("A", "1", readonly=True), entry("Gone", None)]

    async def store(r: Repositories) -> None:
        await r.configuration.replace_snapshot("CP-1", first)
        await r.configuration.replace_snapshot("CP-2", [entry("A", "x", "CP-2")])

    await uow.run(store)
    got = await uow.read(lambda r: r.configuration.snapshot("CP-1"))
    assert [(e.key, e.value, e.readonly) for e in got] == [
        ("A", "1", True),
        ("B", "2", False),
        ("Gone", None, False),
    ]
    assert got[0].reported_at == T0

    later = T0 + timedelta(minutes=5)
    await uow.run(
        lambda r: r.configuration.replace_snapshot("CP-1", [entry("B", "3", reported_at=later)])
    )
    got = await uow.read(lambda r: r.configuration.snapshot("CP-1"))
    assert [(e.key, e.value, e.reported_at) for e in got] == [("B", "3", later)]
    other = await uow.read(lambda r: r.configuration.snapshot("CP-2"))
    assert [e.value for e in other] == ["x"]


async def test_snapshot_refuses_another_stations_entries(uow: SqlUnitOfWork) -> None:
    await uow.run(lambda r: r.configuration.replace_snapshot("CP-1", [entry("A", "1")]))
    with pytest.raises(ValueError):
        await uow.run(lambda r: r.configuration.replace_snapshot("CP-1", [entry("A", "2", "CP-9")]))
    got = await uow.read(lambda r: r.configuration.snapshot("CP-1"))
    assert [e.value for e in got] == ["1"]  # rolled back


async def test_put_entry_inserts_and_updates_one_key(uow: SqlUnitOfWork) -> None:
    await uow.run(lambda r: r.configuration.replace_snapshot("CP-1", [entry("A", "1")]))
    await uow.run(lambda r: r.configuration.put_entry(entry("A", "5")))
    await uow.run(lambda r: r.configuration.put_entry(entry("C", "7")))
    got = await uow.read(lambda r: r.configuration.snapshot("CP-1"))
    assert [(e.key, e.value) for e in got] == [("A", "5"), ("C", "7")]


async def test_provisioning_items_upsert(uow: SqlUnitOfWork) -> None:
    item = ProvisioningItem(
        "CP-1", "MeterValueSampleInterval", "60", ProvisioningState.PENDING, 0, T0
    )
    await uow.run(lambda r: r.configuration.put_item(item))
    await uow.run(
        lambda r: r.configuration.put_item(
            ProvisioningItem(
                "CP-1", "AKey", "x", ProvisioningState.NOT_SUPPORTED, 1, T0, detail="NotSupported"
            )
        )
    )
    later = T0 + timedelta(seconds=30)
    await uow.run(
        lambda r: r.configuration.put_item(
            ProvisioningItem(
                "CP-1", "MeterValueSampleInterval", "60", ProvisioningState.ACCEPTED, 2, later
            )
        )
    )
    got = await uow.read(lambda r: r.configuration.items("CP-1"))
    assert [(i.key, i.state, i.attempts, i.detail) for i in got] == [
        ("AKey", ProvisioningState.NOT_SUPPORTED, 1, "NotSupported"),
        ("MeterValueSampleInterval", ProvisioningState.ACCEPTED, 2, None),
    ]
    assert got[1].updated_at == later
    assert await uow.read(lambda r: r.configuration.items("CP-2")) == []
