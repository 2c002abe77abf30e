"""Fleet pieces without a server: stats that merge, keys files, the agenda."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opencsms.chargepoint.clock import FakeClock
from opencsms.simulator.fleet import specs_for, with_station_ids
from opencsms.simulator.keys import KeysFileError, load_keys, parse_keys, write_keys
from opencsms.simulator.scenario import Fault, Scenario, StationModel, Visit
from opencsms.simulator.stats import FleetStats, Histogram, StatsJournal
from opencsms.simulator.timebase import Agenda, ScaledClock, raise_fd_limit


def test_histogram_quantiles_within_five_percent() -> None:
    histogram = Histogram()
    for ms in range(1, 1001):  # 1 ms .. 1 s, uniform
        histogram.add(ms / 1000)
    p50, p99 = histogram.quantile(0.5), histogram.quantile(0.99)
    assert p50 is not None and p99 is not None
    assert 0.5 / 1.05 <= p50 <= 0.5 * 1.05
    assert 0.99 / 1.05 <= p99 <= 0.99 * 1.05
    assert Histogram().quantile(0.5) is None


def test_stats_merge_adds_counts_and_histograms() -> None:
    a, b = (
        FleetStats(stations=2, connected=2, sessions=3, energy_wh=100.0),
        FleetStats(stations=3, connected=1, sessions=1, energy_wh=50.5, errors=2),
    )
    a.sent["MeterValues"] = 10
    b.sent.update({"MeterValues": 5, "Heartbeat": 1})
    for _ in range(99):
        a.record_latency("MeterValues", 0.001)
    b.record_latency("MeterValues", 1.0)
    a.all_connected_after, b.all_connected_after = 1.5, 2.5
    merged = FleetStats().merge(a).merge(b)
    assert (merged.stations, merged.connected, merged.sessions, merged.errors) == (5, 3, 4, 2)
    assert merged.energy_wh == pytest.approx(150.5)
    assert merged.sent == {"MeterValues": 15, "Heartbeat": 1}
    histogram = merged.latency["MeterValues"]
    assert histogram.total == 100
    assert histogram.quantile(0.5) == pytest.approx(0.001, rel=0.05)
    assert histogram.quantile(1.0) == pytest.approx(1.0, rel=0.05)
    assert merged.all_connected_after == 2.5


def test_stats_survive_a_process_boundary_as_json() -> None:
    stats = FleetStats(stations=4, sessions=2, energy_wh=12.5)
    stats.received["RemoteStartTransaction"] = 1
    stats.record_latency("Authorize", 0.02)
    copy = FleetStats.from_dict(json.loads(json.dumps(stats.to_dict())))
    assert copy.to_dict() == stats.to_dict()


def test_stats_journal_books_round_trips_by_action() -> None:
    stats = FleetStats()
    journal = StatsJournal(stats)
    journal.record("sent", '[2,"a","Heartbeat",{}]')
    journal.record("received", '[3,"a",{"currentTime":"2025-01-01T00:00:00Z"}]')
    journal.record("received", '[2,"x","Reset",{"type":"Soft"}]')
    journal.record("sent", '[3,"x",{"status":"Accepted"}]')
    journal.record("sent", '[2,"b","Authorize",{"idTag":"T"}]')
    journal.record("received", '[4,"b","InternalError","",{}]')
    journal.record("received", "not json")
    assert stats.sent == {"Heartbeat": 1, "Authorize": 1}
    assert stats.received == {"Reset": 1}
    assert set(stats.latency) == {"Heartbeat", "Authorize"}
    assert stats.errors == 2  # the CALLERROR and the garbage
    assert journal.entries == []  # load mode keeps nothing


def test_keys_json_and_csv(tmp_path: Path) -> None:
    assert parse_keys('{"CP1": "k1", "CP2": "k2"}') == {"CP1": "k1", "CP2": "k2"}
    assert parse_keys('[{"station_id": "CP1", "key": "k1"}]') == {"CP1": "k1"}
    assert parse_keys("station_id,key\nCP1,k1\n\n# note\nCP2, k2\n") == {"CP1": "k1", "CP2": "k2"}
    for name in ("keys.json", "keys.csv"):
        path = tmp_path / name
        write_keys(path, {"A": "1" * 32, "B": "2" * 32})
        assert load_keys(path) == {"A": "1" * 32, "B": "2" * 32}
        assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CP1,k1\nCP2\n", r"<keys>:2: expected 'station_id,key'"),
        ("CP1,k1\nCP1,k2\n", r"<keys>:2: station 'CP1' listed twice"),
        ('{"CP1": 5}', r"entry 1: station id and key must be strings"),
        ('{"CP1": "k",\n', r"<keys>:2: not valid JSON"),
        ("[1, 2]", r"expected an object"),
    ],
)
def test_broken_keys_files_say_where(text: str, message: str) -> None:
    with pytest.raises(KeysFileError, match=message):
        parse_keys(text)


def test_missing_keys_file(tmp_path: Path) -> None:
    with pytest.raises(KeysFileError, match="cannot read"):
        load_keys(tmp_path / "none.json")


def test_specs_take_ids_from_the_keys_file_when_it_has_enough() -> None:
    scenario = Scenario(models=(StationModel(name="a", count=1), StationModel(name="b", count=1)))
    specs = specs_for(2, {"X1": "k1", "X2": "k2", "X3": "k3"}, scenario)
    assert [(s.identity, s.key, s.model.name) for s in specs] == [
        ("X1", "k1", "a"),
        ("X2", "k2", "b"),
    ]
    assert [s.first_tag for s in specs] == [0, 1]  # fleet-wide, so processes never share a tag
    generated = specs_for(3, {}, scenario, prefix="P", default_key="K" * 32)
    assert [s.identity for s in generated] == ["P00001", "P00002", "P00003"]
    assert {s.key for s in generated} == {"K" * 32}


async def test_agenda_runs_callbacks_in_time_order_on_one_task() -> None:
    clock = FakeClock()
    agenda = Agenda(clock)
    seen: list[str] = []
    agenda.after(30, lambda: seen.append("b"))
    agenda.start()
    agenda.after(10, lambda: seen.append("a"))  # earlier than the one it sleeps for
    agenda.after(10, lambda: agenda.after(5, lambda: seen.append("a+5")))
    await clock.advance(12)
    assert seen == ["a"]
    await clock.advance(20)
    assert seen == ["a", "a+5", "b"]
    await agenda.stop()


async def test_scaled_clock_runs_faster() -> None:
    clock = ScaledClock(1000.0)
    before = clock.now()
    await clock.sleep(20)  # 20 ms of real time
    assert (clock.now() - before).total_seconds() >= 19


def test_fd_limit_is_raised_not_lowered() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert raise_fd_limit(16) == soft


def test_index_selectors_become_station_ids_before_a_fleet_is_split() -> None:
    specs = specs_for(3, {}, Scenario(), prefix="P", default_key="K" * 32)
    scenario = Scenario(
        sessions=(Visit(station=2, arrive=0, leave=60),),
        faults=(Fault(at=1, station=3, kind="drop"), Fault(at=1, station="X", kind="drop")),
    )
    resolved = with_station_ids(scenario, specs)
    assert [v.station for v in resolved.sessions] == ["P00002"]
    assert [f.station for f in resolved.faults] == ["P00003", "X"]
