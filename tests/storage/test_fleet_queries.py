"""The fleet overview's queries (``SqlFleetQueries``), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opencsms.domain.fleet_overview import FleetOverview
from opencsms.domain.model import (
    MeterValue,
    ProvisioningItem,
    ProvisioningState,
    SampledValue,
    Station,
    StationInfo,
    StatusReport,
    TagStatus,
    TransactionStart,
    TransactionStop,
)
from opencsms.domain.ports import Repositories, StationQuery
from opencsms.domain.smart_charging.records import ProfileRecord, ProfileState, Site
from opencsms.storage import SqlUnitOfWork

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def power(watts: str, phase: str | None = None, unit: str = "W") -> SampledValue:
    return SampledValue(watts, "Power.Active.Import", unit=unit, phase=phase)


CURRENT = [("16", "L1"), ("16", "L2"), ("15", "L3")]
"""(A, phase) of CP-A1's second car: (16 + 16 + 15) × 230 V = 10,810 W."""


async def fleet(r: Repositories) -> None:
    """Five stations: two charging (one reporting per phase; one with a
    second car whose station reports only current and voltage), a faulted
    one, one never booted, one with a finished session."""
    makes = {
        "CP-A1": ("ACME", "Volt-22"),
        "CP-A2": ("ACME", "Volt-11"),
        "CP-B1": ("Borealis", "Wall_Box"),
        "CP-C1": None,
        "XY-9": ("Zed", "Mini"),
    }
    for i, (station_id, make) in enumerate(makes.items()):
        info = None if make is None else StationInfo(vendor=make[0], model=make[1])
        await r.stations.add(
            Station(station_id, None, T0, info=info, last_seen_at=None if make is None else at(i))
        )
    await r.connectors.record("CP-A1", StatusReport(0, "Faulted", "OtherError"), at(0))
    await r.connectors.record("CP-A1", StatusReport(1, "Charging", "NoError"), at(1))
    await r.connectors.record("CP-A1", StatusReport(2, "Available", "NoError"), at(1))
    await r.connectors.record("CP-A2", StatusReport(1, "Charging", "NoError"), at(2))
    await r.connectors.record("CP-B1", StatusReport(1, "Faulted", "GroundFailure"), at(5))
    await r.connectors.record("XY-9", StatusReport(1, "Faulted", "HighTemperature"), at(3))
    await r.connectors.record("XY-9", StatusReport(2, "Available", "NoError"), at(3))
    a1 = await r.transactions.create(
        TransactionStart("CP-A1", 1, "T1", 0, at(0)), TagStatus.ACCEPTED
    )
    a2 = await r.transactions.create(
        TransactionStart("CP-A2", 1, "T2", 0, at(0)), TagStatus.ACCEPTED
    )
    done = await r.transactions.create(
        TransactionStart("XY-9", 2, "T3", 0, at(0)), TagStatus.ACCEPTED
    )
    await r.meter_values.add(
        "CP-A1", 1, a1.id, [MeterValue(at(60), (power("7000"),))], at(60)
    )  # superseded by the reading below
    await r.meter_values.add(
        "CP-A1",
        1,
        a1.id,
        [MeterValue(at(120), (power("11.0", unit="kW"), SampledValue("500")))],
        at(120),
    )
    await r.meter_values.add(
        "CP-A2",
        1,
        a2.id,
        [MeterValue(at(90), (power("1000", "L1"), power("1000", "L2"), power("1500", "L3")))],
        at(90),
    )
    a1_2 = await r.transactions.create(
        TransactionStart("CP-A1", 2, "T4", 0, at(0)), TagStatus.ACCEPTED
    )
    amps = [SampledValue(a, "Current.Import", unit="A", phase=p) for a, p in CURRENT]
    volts = [SampledValue("230", "Voltage", unit="V", phase=f"{p}-N") for _, p in CURRENT]
    await r.meter_values.add(
        "CP-A1", 2, a1_2.id, [MeterValue(at(30), (SampledValue("1", "Current.Import"),))], at(30)
    )  # superseded: no voltage, and older
    await r.meter_values.add("CP-A1", 2, a1_2.id, [MeterValue(at(60), (*amps, *volts))], at(60))
    await r.meter_values.add("XY-9", 2, done.id, [MeterValue(at(60), (power("9000"),))], at(60))
    await r.transactions.finish(TransactionStop("XY-9", done.id, 100, at(100)), 100, False)
    await r.sites.put(Site("depot", "Depot"))
    await r.sites.set_site_of("CP-A2", "depot")
    await r.sites.set_site_of("XY-9", "depot")


async def test_counts_and_power(uow: SqlUnitOfWork) -> None:
    await uow.run(fleet)
    assert await uow.read(lambda r: r.fleet.station_count()) == 5
    assert await uow.read(lambda r: r.fleet.connector_counts()) == {
        "Charging": 2,
        "Available": 2,
        "Faulted": 2,  # connector 0 of CP-A1 is the station, not counted
    }
    assert await uow.read(lambda r: r.fleet.active_transaction_count()) == 3
    readings = await uow.read(lambda r: r.fleet.latest_power())
    got = sorted((v.station_id, v.measurand[0], v.value, v.unit, v.phase) for v in readings)
    assert got == [  # CP-A1's 7000 W of a minute before is not its latest
        ("CP-A1", "C", "15", "A", "L3"),
        ("CP-A1", "C", "16", "A", "L1"),
        ("CP-A1", "C", "16", "A", "L2"),
        ("CP-A1", "P", "11.0", "kW", None),
        ("CP-A1", "V", "230", "V", "L1-N"),
        ("CP-A1", "V", "230", "V", "L2-N"),
        ("CP-A1", "V", "230", "V", "L3-N"),
        ("CP-A2", "P", "1000", "W", "L1"),
        ("CP-A2", "P", "1000", "W", "L2"),
        ("CP-A2", "P", "1500", "W", "L3"),
    ]
    only = await uow.read(lambda r: r.fleet.latest_power(["CP-A2", "XY-9"]))
    assert {v.station_id for v in only} == {"CP-A2"}
    assert await uow.read(lambda r: r.fleet.latest_power([])) == []


async def test_the_overview_sums_power_in_watts_a_total_or_its_phases(uow: SqlUnitOfWork) -> None:
    await uow.run(fleet)
    overview = FleetOverview(uow)
    summary = await overview.summary(online_ids=["CP-A1"])
    # CP-A1: 11.0 kW (its total) + 10,810 W (current × voltage);
    # CP-A2: no total, so L1 + L2 + L3 = 3,500 W
    assert summary.power_w == 25_310.0
    assert (summary.stations, summary.online, summary.offline) == (5, 1, 4)
    page = await overview.stations(StationQuery(), 10, None, online_ids=["CP-A1"])
    assert {row.station.id: row.power_w for row in page.rows} == {
        "CP-A1": 21_810.0,
        "CP-A2": 3_500.0,
        "CP-B1": None,
        "CP-C1": None,
        "XY-9": None,  # its session is over: its 9,000 W is not power now
    }


async def test_search_filters_and_pages(uow: SqlUnitOfWork) -> None:
    await uow.run(fleet)

    async def ids(where: StationQuery, limit: int = 10, **kw: object) -> list[str]:
        found = await uow.read(lambda r: r.fleet.search(where, limit, **kw))  # type: ignore[arg-type]
        return [s.id for s in found]

    everything = ["CP-A1", "CP-A2", "CP-B1", "CP-C1", "XY-9"]
    assert await ids(StationQuery()) == everything
    assert await ids(StationQuery(), 2) == ["CP-A1", "CP-A2"]
    assert await ids(StationQuery(), 2, after="CP-A2") == ["CP-B1", "CP-C1"]
    assert await ids(StationQuery(text="cp-a")) == ["CP-A1", "CP-A2"]  # prefix, any case
    assert await ids(StationQuery(text="acme")) == ["CP-A1", "CP-A2"]  # vendor
    assert await ids(StationQuery(text="VOLT-1")) == ["CP-A2"]  # model
    assert await ids(StationQuery(text="_")) == ["CP-B1"]  # a wildcard taken literally
    assert await ids(StationQuery(text="%")) == []
    assert await ids(StationQuery(connector_status="Faulted")) == ["CP-B1", "XY-9"]
    assert await ids(StationQuery(connector_status="Charging")) == ["CP-A1", "CP-A2"]
    assert await ids(StationQuery(site_id="depot")) == ["CP-A2", "XY-9"]
    assert await ids(StationQuery(site_id="depot", connector_status="Charging")) == ["CP-A2"]
    assert await ids(StationQuery(), ids=["XY-9", "CP-A1", "nope"]) == ["CP-A1", "XY-9"]
    assert await ids(StationQuery(), ids=[]) == []


async def test_connectors_and_problem_lists(uow: SqlUnitOfWork) -> None:
    async def more(r: Repositories) -> None:
        await fleet(r)
        for key, state, moment in (
            ("HeartbeatInterval", ProvisioningState.FAILED, at(10)),
            ("MeterValueSampleInterval", ProvisioningState.REJECTED, at(20)),
            ("WebSocketPingInterval", ProvisioningState.ACCEPTED, at(30)),
        ):
            await r.configuration.put_item(ProvisioningItem("CP-A1", key, "60", state, 1, moment))
        for connector, profile in ((1, ProfileState.FAILED), (2, ProfileState.VERIFIED)):
            await r.charging.put_profile(
                ProfileRecord(
                    "CP-A2", connector, "TxProfile", 7, {}, profile, "flip_unit", 6, at(40)
                )
            )

    await uow.run(more)
    connectors = await uow.read(lambda r: r.fleet.connectors_of(["CP-A1", "XY-9", "CP-C1"]))
    assert sorted(connectors) == ["CP-A1", "XY-9"]
    assert [(c.connector_id, c.status) for c in connectors["CP-A1"]] == [
        (0, "Faulted"),
        (1, "Charging"),
        (2, "Available"),
    ]
    faulted = await uow.read(lambda r: r.fleet.connectors_in("Faulted", 10))
    assert [(c.station_id, c.connector_id, c.error_code) for c in faulted] == [
        ("CP-B1", 1, "GroundFailure"),
        ("XY-9", 1, "HighTemperature"),
    ]
    assert len(await uow.read(lambda r: r.fleet.connectors_in("Faulted", 1))) == 1
    seen = await uow.read(lambda r: r.fleet.seen_stations(2))
    assert [s.id for s in seen] == ["XY-9", "CP-B1"]  # the never-seen CP-C1 is left out
    last_at, last_id = seen[-1].last_seen_at, seen[-1].id
    assert last_at is not None
    rest = await uow.read(lambda r: r.fleet.seen_stations(10, (last_at, last_id)))
    assert [s.id for s in rest] == ["CP-A2", "CP-A1"]
    failed = await uow.read(lambda r: r.fleet.provisioning_failures(10))
    assert [(i.key, i.state) for i in failed] == [
        ("MeterValueSampleInterval", ProvisioningState.REJECTED),
        ("HeartbeatInterval", ProvisioningState.FAILED),
    ]
    profiles = await uow.read(lambda r: r.fleet.profile_failures(10))
    assert [(p.station_id, p.connector_id, p.state) for p in profiles] == [
        ("CP-A2", 1, ProfileState.FAILED)
    ]
