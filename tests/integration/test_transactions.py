"""Stations retry: replayed Start/Stop, unknown transaction ids, late values.

Raw OCPP-J frames over a real WSS connection, so the test controls message
ids and reconnects exactly as a misbehaving station would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection

from opencsms.app import CentralSystem
from opencsms.domain.model import IdTag
from opencsms.domain.ports import Repositories

from .stations import open_socket, reply_to

T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
_ids = iter(range(1, 1_000_000))


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def ask(ws: ClientConnection, action: str, payload: dict[str, Any]) -> Any:
    message_id = f"m{next(_ids)}"
    await ws.send(orjson.dumps([2, message_id, action, payload]).decode())
    return await reply_to(ws, message_id)


async def result(ws: ClientConnection, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    reply = await ask(ws, action, payload)
    assert reply[0] == 3, reply
    return reply[2]  # type: ignore[no-any-return]


START = {"connectorId": 1, "idTag": "TAG", "meterStart": 5000, "timestamp": iso(T0)}


async def all_transactions(central: CentralSystem) -> list[Any]:
    async def work(repos: Repositories) -> list[Any]:
        return await repos.transactions.list(limit=1000)

    return await central.services.uow.read(work)


@pytest.fixture
async def station_key(central: CentralSystem) -> str:
    await central.services.tags.put(IdTag("TAG"))
    await central.services.tags.put(IdTag("OTHER"))
    return await central.services.stations.register("CP1")


async def test_replayed_start_after_reconnect_returns_the_same_id(
    central: CentralSystem, station_key: str
) -> None:
    async with await open_socket(central, "CP1", station_key) as ws:
        first = await result(ws, "StartTransaction", START)
    async with await open_socket(central, "CP1", station_key) as ws:
        again = await result(ws, "StartTransaction", START)
    assert again["transactionId"] == first["transactionId"]
    assert again["idTagInfo"]["status"] == "Accepted"
    assert len(await all_transactions(central)) == 1


async def test_second_concurrent_session_with_the_same_tag_gets_concurrent_tx(
    central: CentralSystem, station_key: str
) -> None:
    other_key = await central.services.stations.register("CP2")
    async with await open_socket(central, "CP1", station_key) as ws:
        await result(ws, "StartTransaction", START)
    async with await open_socket(central, "CP2", other_key) as ws:
        second = await result(
            ws, "StartTransaction", {**START, "timestamp": iso(T0 + timedelta(1))}
        )
    assert second["idTagInfo"]["status"] == "ConcurrentTx"
    ids = {t.id for t in await all_transactions(central)}
    assert len(ids) == 2  # each got its own system-wide unique id


async def test_replayed_stop_is_idempotent(central: CentralSystem, station_key: str) -> None:
    async with await open_socket(central, "CP1", station_key) as ws:
        transaction_id = (await result(ws, "StartTransaction", START))["transactionId"]
        stop = {
            "transactionId": transaction_id,
            "meterStop": 9000,
            "timestamp": iso(T0 + timedelta(hours=1)),
            "transactionData": [
                {
                    "timestamp": iso(T0 + timedelta(minutes=30)),
                    "sampledValue": [{"value": "7000", "unit": "Wh"}],
                }
            ],
        }
        assert await result(ws, "StopTransaction", stop) == {}
    async with await open_socket(central, "CP1", station_key) as ws:
        assert await result(ws, "StopTransaction", {**stop, "meterStop": 9999}) == {}
    transaction = await central.services.transactions.get(transaction_id)
    assert transaction is not None
    assert (transaction.meter_stop, transaction.energy_wh) == (9000, 4000)

    async def values(repos: Repositories) -> list[Any]:
        return await repos.meter_values.for_transaction(transaction_id)

    stored = await central.services.uow.read(values)
    assert [(v.timestamp, v.sample.value) for v in stored] == [(T0 + timedelta(minutes=30), "7000")]


@pytest.mark.parametrize("unknown_id", [-1, 0, 424242])
async def test_stop_of_unknown_transaction_is_stored_as_orphan(
    central: CentralSystem, station_key: str, unknown_id: int
) -> None:
    stop = {"transactionId": unknown_id, "meterStop": 100, "timestamp": iso(T0), "idTag": "TAG"}
    async with await open_socket(central, "CP1", station_key) as ws:
        first = await ask(ws, "StopTransaction", stop)
        again = await ask(ws, "StopTransaction", stop)
    assert first[0] == again[0] == 3  # a CALLRESULT, never a CALLERROR
    assert first[2] == {"idTagInfo": {"status": "Accepted"}}

    async def orphans(repos: Repositories) -> list[Any]:
        return await repos.transactions.list_orphan_stops("CP1")

    stored = await central.services.uow.read(orphans)
    assert [(o.reported_transaction_id, o.meter_stop) for o in stored] == [(unknown_id, 100)]


async def test_meter_going_backwards_is_flagged_not_negative(
    central: CentralSystem, station_key: str
) -> None:
    async with await open_socket(central, "CP1", station_key) as ws:
        transaction_id = (await result(ws, "StartTransaction", START))["transactionId"]
        await result(
            ws,
            "StopTransaction",
            {"transactionId": transaction_id, "meterStop": 10, "timestamp": iso(T0)},
        )
    transaction = await central.services.transactions.get(transaction_id)
    assert transaction is not None
    assert transaction.meter_stop == 10 and transaction.meter_anomaly
    assert transaction.energy_wh is None


async def test_late_meter_values_keep_their_original_timestamps(
    central: CentralSystem, station_key: str
) -> None:
    hours_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    async with await open_socket(central, "CP1", station_key) as ws:
        transaction_id = (
            await result(ws, "StartTransaction", {**START, "timestamp": iso(hours_ago)})
        )["transactionId"]
        backlog = [
            {
                "timestamp": iso(hours_ago + timedelta(minutes=m)),
                "sampledValue": [
                    {
                        "value": str(5000 + 100 * m),
                        "measurand": "Energy.Active.Import.Register",
                        "unit": "Wh",
                        "context": "Sample.Periodic",
                        "location": "Outlet",
                    },
                    {"value": "16.1", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
                ],
            }
            for m in range(1, 4)
        ]
        await result(
            ws,
            "MeterValues",
            {"connectorId": 1, "transactionId": transaction_id, "meterValue": backlog},
        )

    async def values(repos: Repositories) -> list[Any]:
        return await repos.meter_values.for_transaction(transaction_id)

    stored = await central.services.uow.read(values)
    assert len(stored) == 6
    energy = [v for v in stored if v.sample.measurand == "Energy.Active.Import.Register"]
    assert [v.timestamp for v in energy] == [hours_ago + timedelta(minutes=m) for m in (1, 2, 3)]
    assert all(v.received_at - v.timestamp > timedelta(hours=4) for v in energy)
    current = next(v for v in stored if v.sample.measurand == "Current.Import")
    assert (current.sample.phase, current.sample.unit) == ("L1", "A")
    assert energy[0].sample.location == "Outlet"


async def test_invalid_payloads_are_rejected_with_ocpp16_codes_and_nothing_stored(
    central: CentralSystem, station_key: str
) -> None:
    async with await open_socket(central, "CP1", station_key) as ws:
        wrong_type = await ask(ws, "StartTransaction", {**START, "meterStart": "5000"})
        missing = await ask(ws, "StartTransaction", {"connectorId": 1, "idTag": "TAG"})
    assert wrong_type[:3] == [4, wrong_type[1], "TypeConstraintViolation"]
    assert missing[:3] == [4, missing[1], "OccurenceConstraintViolation"]
    assert await all_transactions(central) == []


async def test_lenient_station_gets_its_broken_payload_stored(
    central: CentralSystem, station_key: str
) -> None:
    await central.services.stations.set_lenient("CP1", True)
    async with await open_socket(central, "CP1", station_key) as ws:
        # a vendor that adds an unknown field and an id tag longer than 20 characters
        reply = await ask(ws, "StartTransaction", {**START, "idTag": "T" * 25, "vendorExtra": 1})
    assert reply[0] == 3 and reply[2]["idTagInfo"]["status"] == "Invalid"
    assert [t.id_tag for t in await all_transactions(central)] == ["T" * 25]


async def test_unknown_action_gets_not_implemented(
    central: CentralSystem, station_key: str
) -> None:
    async with await open_socket(central, "CP1", station_key) as ws:
        reply = await ask(ws, "BrewCoffee", {})
    assert reply[2] == "NotImplemented"
