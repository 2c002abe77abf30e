"""The simulator fleet against the real central system over WSS.

Twenty stations on one FakeClock each run a 30-minute session with meter
values every minute; one station loses its link (TCP cut, no close frame)
mid-session, charges on offline, ends the session offline, and replays its
queue after reconnecting. Afterwards the database must hold every session
and every sampled value exactly once, with the station's own timestamps.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from ocpp.v16 import call

from opencsms.app import CentralSystem
from opencsms.chargepoint.clock import FakeClock, ocpp_time, parse_time
from opencsms.domain.model import IdTag, StoredMeterValue, Transaction
from opencsms.domain.ports import Repositories
from opencsms.simulator.fleet import Fleet, FleetOptions, StationSpec
from opencsms.simulator.scenario import Fault, Scenario, StationModel, Visit

from .stations import ocpp_station

STATIONS = 20
OFFLINE = 7  # 1-based index of the station that goes offline
MEASURANDS = ("Energy.Active.Import.Register", "Power.Active.Import", "Current.Import")

Sample = tuple[datetime, str, str | None, str]


def sent_samples(payloads: list[dict[str, Any]]) -> list[Sample]:
    return [
        (parse_time(mv["timestamp"]), sv["measurand"], sv.get("phase"), sv["value"])
        for payload in payloads
        for mv in payload.get("meterValue", payload.get("transactionData", []))
        for sv in mv["sampledValue"]
    ]


def stored_samples(values: list[StoredMeterValue]) -> list[Sample]:
    return [(v.timestamp, v.sample.measurand or "", v.sample.phase, v.sample.value) for v in values]


async def test_fleet_sessions_and_an_offline_replay_are_stored_exactly_once(
    central: CentralSystem,
) -> None:
    ids = [f"E2E{i:02d}" for i in range(1, STATIONS + 1)]
    keys = {i: await central.services.stations.register(i) for i in ids}
    for number in range(1, STATIONS + 1):
        await central.services.tags.put(IdTag(f"TAG-{number:02d}"))
    scenario = Scenario(
        meter_interval=60,
        measurands=MEASURANDS,
        random_sessions=False,
        sessions=tuple(
            Visit(station=n, arrive=60 + 5 * n, leave=60 + 5 * n + 1800, tag=f"TAG-{n:02d}")
            for n in range(1, STATIONS + 1)
        ),
        # station 7 starts at 95 s and samples at 155, 215, ... - 600 s falls between
        faults=(Fault(at=600, station=OFFLINE, kind="drop", close_frame=False, offline_for=1500),),
    )
    clock = FakeClock()
    assert central.ca_file is not None
    fleet = Fleet(
        [StationSpec(i, keys[i], StationModel()) for i in ids],
        FleetOptions(
            url=central.ocpp_url,
            ca_file=str(central.ca_file),
            scenario=scenario,
            ramp=0,
            keep_journal=True,
            response_timeout=5,
        ),
        clock,
    )
    await fleet.start()
    try:
        await fleet.settle()
        await fleet.advance(2040, step=30)  # all sessions ended (by 1960 s); 7 still offline
        offline = fleet.members[OFFLINE - 1]
        assert offline.station.connection is not None
        assert not offline.station.connection.connected.is_set()
        queued = [m.action for m in offline.station.cp.queue]
        assert queued.count("MeterValues") >= 20 and queued[-1] == "StopTransaction"
        for _ in range(20):  # back online at 2100 s; backoff is at most 120 s
            await fleet.advance(30, step=30)
            if offline.station.connection.connected.is_set() and not len(offline.station.cp.queue):
                break
        await fleet.settle()
        assert not len(offline.station.cp.queue)
        assert fleet.snapshot().sessions == STATIONS
        assert fleet.stats.drops == 1 and fleet.stats.energy_wh > 0
    finally:
        await fleet.stop()

    async def read(repos: Repositories) -> dict[str, list[tuple[Transaction, list[Any]]]]:
        out: dict[str, list[tuple[Transaction, list[Any]]]] = {}
        for station_id in ids:
            transactions = await repos.transactions.list(station_id=station_id)
            out[station_id] = [
                (t, await repos.meter_values.for_transaction(t.id)) for t in transactions
            ]
        return out

    stored = await central.services.uow.read(read)
    assert sum(len(t) for t in stored.values()) == STATIONS
    for member in fleet.members:
        station_id = member.station.identity
        [(transaction, values)] = stored[station_id]
        journal = member.station.journal
        [start] = journal.calls("sent", "StartTransaction")
        [stop] = journal.calls("sent", "StopTransaction")
        assert transaction.started_at == parse_time(start["timestamp"])
        assert transaction.stopped_at == parse_time(stop["timestamp"])
        assert transaction.meter_stop == stop["meterStop"] > transaction.meter_start
        sent = sent_samples(journal.calls("sent", "MeterValues")) + sent_samples([stop])
        # Every sample the station sent is stored, and exactly once. The
        # station may send one twice: a MeterValues in flight when its link is
        # cut is sent again from the offline queue (it cannot know it arrived).
        stored_counts = Counter(stored_samples(values))
        assert set(stored_counts) == set(sent), station_id
        assert max(stored_counts.values()) == 1, station_id
        if member.index != OFFLINE - 1:
            assert len(set(sent)) == len(sent)  # online stations never repeat a sample
        if member.index == OFFLINE - 1:
            late = [v for v in values if (v.received_at - v.timestamp).total_seconds() > 60]
            assert len(late) >= 20 * len(MEASURANDS)  # replayed, original timestamps kept


async def test_a_resent_meter_values_is_stored_once(central: CentralSystem) -> None:
    """A station whose link died after the central system committed a MeterValues
    but before the reply arrived sends it again, with a new message id (OCPP 1.6
    section 4.7: transaction messages are retried until acknowledged). Start and
    Stop replays are recognised (domain/transactions.py), and so must MeterValues be."""
    key = await central.services.stations.register("DUP1")
    await central.services.tags.put(IdTag("TAG-DUP"))
    clock = FakeClock()
    sample = {
        "timestamp": ocpp_time(clock.now()),
        "sampledValue": [
            {
                "value": "1234",
                "measurand": "Energy.Active.Import.Register",
                "unit": "Wh",
                "context": "Sample.Periodic",
            }
        ],
    }
    async with ocpp_station(central, "DUP1", key) as station:
        started = await station.call(call.StartTransaction(1, "TAG-DUP", 0, ocpp_time(clock.now())))
        for _ in range(2):  # the original and the retry after reconnecting
            await station.call(call.MeterValues(1, [sample], started.transaction_id))

    async def read(repos: Repositories) -> list[StoredMeterValue]:
        return await repos.meter_values.for_transaction(started.transaction_id)

    assert len(await central.services.uow.read(read)) == 1
