"""A whole station session over WSS with the ``ocpp`` package as the station,
with a server restart in the middle; on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ocpp.v16 import call

from opencsms.domain.model import IdTag, TagStatus
from opencsms.domain.ports import Repositories

from .conftest import CentralFactory
from .stations import ocpp_station

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def energy_sample(moment: datetime, wh: int) -> dict[str, object]:
    return {
        "timestamp": iso(moment),
        "sampledValue": [
            {
                "value": str(wh),
                "measurand": "Energy.Active.Import.Register",
                "unit": "Wh",
                "context": "Sample.Periodic",
            },
            {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"},
        ],
    }


async def test_full_session_survives_a_restart(
    start_central: CentralFactory, database_url: str
) -> None:
    central = await start_central(database_url)
    key = await central.services.stations.register("CP001")
    await central.services.tags.put(IdTag("TAG-OK"))
    await central.services.tags.put(IdTag("TAG-BLOCKED", TagStatus.BLOCKED))

    async with ocpp_station(central, "CP001", key) as station:
        boot = await station.call(
            call.BootNotification(
                charge_point_model="Wallbox", charge_point_vendor="Acme", firmware_version="1.2"
            )
        )
        assert boot.status == "Accepted" and boot.interval == 300
        await station.call(call.StatusNotification(1, "NoError", "Preparing", timestamp=iso(T0)))
        assert (await station.call(call.Authorize("TAG-OK"))).id_tag_info["status"] == "Accepted"
        blocked = await station.call(call.Authorize("TAG-BLOCKED"))
        assert blocked.id_tag_info["status"] == "Blocked"
        assert (await station.call(call.Authorize("NOBODY"))).id_tag_info["status"] == "Invalid"
        started = await station.call(call.StartTransaction(1, "TAG-OK", 1000, iso(T0)))
        assert started.id_tag_info["status"] == "Accepted"
        transaction_id = started.transaction_id
        await station.call(
            call.MeterValues(1, [energy_sample(T0 + timedelta(minutes=1), 1120)], transaction_id)
        )

    await central.stop()
    central = await start_central(database_url)

    async with ocpp_station(central, "CP001", key) as station:
        assert (await station.call(call.Heartbeat())).current_time
        await station.call(
            call.MeterValues(1, [energy_sample(T0 + timedelta(minutes=2), 1240)], transaction_id)
        )
        stopped = await station.call(
            call.StopTransaction(
                1300,
                iso(T0 + timedelta(minutes=3)),
                transaction_id,
                reason="EVDisconnected",
                id_tag="TAG-OK",
            )
        )
        assert stopped.id_tag_info["status"] == "Accepted"
        await station.call(call.StatusNotification(1, "NoError", "Available"))
        await station.call(call.DataTransfer("com.acme", message_id="hello", data="x"))
        await station.call(call.FirmwareStatusNotification("Idle"))
        await station.call(call.DiagnosticsStatusNotification("Idle"))

    await central.stop()
    central = await start_central(database_url)  # everything below is read after a restart

    station_record = await central.services.stations.get("CP001")
    assert station_record is not None and station_record.info is not None
    assert (station_record.info.vendor, station_record.info.firmware_version) == ("Acme", "1.2")
    assert station_record.last_seen_at is not None

    transaction = await central.services.transactions.get(transaction_id)
    assert transaction is not None
    assert (transaction.meter_start, transaction.meter_stop, transaction.energy_wh) == (
        1000,
        1300,
        300,
    )
    assert transaction.started_at == T0 and transaction.stop_reason == "EVDisconnected"

    async def stored(repos: Repositories) -> tuple[object, ...]:
        return (
            await repos.meter_values.for_transaction(transaction_id),
            await repos.connectors.current("CP001"),
            await repos.connectors.history("CP001", 1),
            await repos.events.list("CP001"),
        )

    values, current, history, events = await central.services.uow.read(stored)
    assert [(v.timestamp, v.sample.measurand, v.sample.value) for v in values] == [
        (T0 + timedelta(minutes=1), "Energy.Active.Import.Register", "1120"),
        (T0 + timedelta(minutes=1), "Power.Active.Import", "7200"),
        (T0 + timedelta(minutes=2), "Energy.Active.Import.Register", "1240"),
        (T0 + timedelta(minutes=2), "Power.Active.Import", "7200"),
    ]
    assert [(c.connector_id, c.status) for c in current] == [(1, "Available")]
    assert [h.status for h in history] == ["Available", "Preparing"]
    assert [e.kind for e in events] == [
        "DataTransfer",
        "FirmwareStatusNotification",
        "DiagnosticsStatusNotification",
    ]
