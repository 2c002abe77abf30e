"""Transactions over the API, from a station's real messages: filters, the
meter-value series, energy, power now and charging vs plugged in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from ocpp.v16 import call

from integration.stations import ocpp_station
from opencsms.app import CentralSystem
from opencsms.domain.model import IdTag

T0 = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def sample(measurand: str, value: str, unit: str) -> dict[str, str]:
    return {"measurand": measurand, "value": value, "unit": unit, "context": "Sample.Periodic"}


async def test_a_session_seen_through_the_api(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    await central.services.tags.put(IdTag("CARD1"))
    await central.services.tags.put(IdTag("CARD2"))
    key = await central.services.stations.register("CP1")
    async with ocpp_station(central, "CP1", key) as station:
        await station.call(call.BootNotification(charge_point_vendor="A", charge_point_model="B"))
        old = await station.call(
            call.StartTransaction(connector_id=2, id_tag="CARD2", meter_start=0, timestamp=at(-60))
        )
        await station.call(
            call.StopTransaction(
                transaction_id=old.transaction_id, meter_stop=7000, timestamp=at(-30)
            )
        )
        started = await station.call(
            call.StartTransaction(connector_id=1, id_tag="CARD1", meter_start=1000, timestamp=at(0))
        )
        tx = started.transaction_id
        await station.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
        )
        for minute, energy, power in ((1, "1.1", "6.5"), (2, "1.3", "11.0")):
            await station.call(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=tx,
                    meter_value=[
                        {
                            "timestamp": at(minute),
                            "sampledValue": [
                                sample("Energy.Active.Import.Register", energy, "kWh"),
                                sample("Power.Active.Import", power, "kW"),
                            ],
                        }
                    ],
                )
            )

        detail = (await api_client.get(f"/api/v1/transactions/{tx}")).json()
        assert detail["active"] is True and detail["state"] == "charging"
        assert detail["energy_wh"] == 300.0 and detail["power_w"] == 11000.0
        assert [(m["measurand"], m["value"]) for m in detail["meter_values"]] == [
            ("Energy.Active.Import.Register", "1.1"),
            ("Power.Active.Import", "6.5"),
            ("Energy.Active.Import.Register", "1.3"),
            ("Power.Active.Import", "11.0"),
        ]

        await station.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status="SuspendedEV")
        )
        detail = (await api_client.get(f"/api/v1/transactions/{tx}")).json()
        assert detail["state"] == "plugged_in_not_charging"

        listed = (await api_client.get("/api/v1/transactions", params={"active": True})).json()
        assert [t["id"] for t in listed["items"]] == [tx]
        by_tag = (await api_client.get("/api/v1/transactions", params={"id_tag": "CARD2"})).json()
        assert [t["id"] for t in by_tag["items"]] == [old.transaction_id]
        window = {"from": at(-90), "to": at(-1)}
        in_window = (await api_client.get("/api/v1/transactions", params=window)).json()
        assert [t["id"] for t in in_window["items"]] == [old.transaction_id]
        everything = await api_client.get("/api/v1/transactions", params={"station_id": "CP1"})
        assert [t["id"] for t in everything.json()["items"]] == [tx, old.transaction_id]
        page = (await api_client.get("/api/v1/transactions", params={"limit": 1})).json()
        assert page["next_offset"] == 1

        finished = (await api_client.get(f"/api/v1/transactions/{old.transaction_id}")).json()
        assert finished["state"] == "finished" and finished["energy_wh"] == 7000.0
        assert finished["power_w"] == 0.0


async def test_bad_queries(api_client: httpx.AsyncClient) -> None:
    assert (await api_client.get("/api/v1/transactions/999")).status_code == 404
    assert (await api_client.get("/api/v1/transactions/abc")).status_code == 422
    naive = await api_client.get("/api/v1/transactions", params={"from": "2027-01-01T00:00:00"})
    assert naive.status_code == 422 and "time zone" in naive.json()["detail"]
    bad = await api_client.get("/api/v1/transactions", params={"from": "yesterday"})
    assert bad.status_code == 422 and "from" in bad.json()["detail"]
