"""Plans as OCPP profiles: golden payloads, the issue-5 rules, escalation options,
and the property that a profile never allows more than the plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opencsms.domain.provisioning import Capabilities
from opencsms.domain.smart_charging.planner import Segment
from opencsms.domain.smart_charging.profiles import (
    ESCALATION,
    FOREVER,
    KW,
    RESEND_LEAD,
    ProfileOptions,
    build,
    default_profile,
    expressible_kw,
    limit_at,
    next_step,
    off_profile,
    options_for,
    options_for_step,
    profile_id,
    station_cap_profile,
    steps_of,
    tx_profile,
)
from opencsms.domain.smart_charging.rates import Rate
from opencsms.domain.smart_charging.records import ConnectorTarget, LearnedProfileOptions

NOW = datetime(2030, 1, 1, 12, 0, 0, 400_000, tzinfo=UTC)
T0 = NOW.replace(microsecond=0)
TX_START = datetime(2030, 1, 1, 11, 30, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def target(*segments: tuple[float, float, float], after_kw: float | None = None) -> ConnectorTarget:
    return ConnectorTarget(
        connector_id=1,
        transaction_id=77,
        transaction_started_at=TX_START,
        segments=tuple(Segment(at(a), at(b), kw) for a, b, kw in segments),
        after_kw=after_kw,
    )


def periods(payload: dict[str, object]) -> list[dict[str, object]]:
    schedule = payload["chargingSchedule"]
    assert isinstance(schedule, dict)
    result = schedule["chargingSchedulePeriod"]
    assert isinstance(result, list)
    return result


# -- golden payloads -----------------------------------------------------------


def test_tx_profile_golden_payload() -> None:
    """11.04 kW = 16 A on 3 × 230 V; a gap is 0; after the plan 0; one decimal, rounded down."""
    built = tx_profile(target((0, 30, 11.04), (60, 90, 7.0)), now=NOW, options=ProfileOptions())
    assert built.payload == {
        "chargingProfileId": 9301,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute",
        "transactionId": 77,
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "startSchedule": "2030-01-01T12:00:00Z",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 16.0},
                {"startPeriod": 1800, "limit": 0.0},
                {"startPeriod": 3600, "limit": 10.1},  # 7000 / 690 = 10.144...
                {"startPeriod": 5400, "limit": 0.0},
            ],
        },
    }
    assert built.request == {"connectorId": 1, "csChargingProfiles": built.payload}
    assert built.resend_at is None
    assert [(r.start, round(r.value, 3)) for r in built.limits_kw] == [
        (at(0), 11.04), (at(30), 0.0), (at(60), 6.969), (at(90), 0.0),
    ]  # fmt: skip
    assert built.limits_kw[-1].end == at(90) + FOREVER


def test_start_schedule_is_now_truncated_never_in_the_future() -> None:
    built = tx_profile(target((-30, 30, 11.0)), now=NOW, options=ProfileOptions())
    schedule = built.payload["chargingSchedule"]
    assert isinstance(schedule, dict)
    assert schedule["startSchedule"] == "2030-01-01T12:00:00Z"
    assert periods(built.payload)[0]["startPeriod"] == 0
    # a plan that starts later begins with a 0 period at 0
    later = tx_profile(target((30, 60, 11.0)), now=NOW, options=ProfileOptions())
    assert periods(later.payload) == [
        {"startPeriod": 0, "limit": 0.0},
        {"startPeriod": 1800, "limit": 15.9},  # 11000 / 690 = 15.94 -> down
        {"startPeriod": 3600, "limit": 0.0},
    ]


def test_adjacent_equal_periods_merge_after_rounding() -> None:
    built = tx_profile(
        target((0, 10, 11.04), (10, 20, 11.05), (20, 30, 4.0)), now=NOW, options=ProfileOptions()
    )
    # 11.04 and 11.05 kW are both 16.0 A; 4 kW = 5.8 A -> 0
    assert periods(built.payload) == [
        {"startPeriod": 0, "limit": 16.0},
        {"startPeriod": 1200, "limit": 0.0},
    ]


def test_after_kw_holds_past_the_plan() -> None:
    built = tx_profile(target((0, 30, 11.04), after_kw=4.14), now=NOW, options=ProfileOptions())
    assert periods(built.payload) == [
        {"startPeriod": 0, "limit": 16.0},
        {"startPeriod": 1800, "limit": 6.0},
    ]


@pytest.mark.parametrize(
    ("kw", "amps"),
    [(0.0, 0.0), (0.5, 0.0), (4.139, 0.0), (4.14, 6.0), (4.2, 6.0), (22.08, 32.0), (-1.0, 0.0)],
)
def test_limits_under_6_amps_become_0(kw: float, amps: float) -> None:
    built = default_profile(kw, now=NOW, options=ProfileOptions())
    assert periods(built.payload) == [{"startPeriod": 0, "limit": amps}]


def test_watts_with_the_same_6_amp_floor() -> None:
    options = ProfileOptions(unit="W")
    assert periods(default_profile(4.0, now=NOW, options=options).payload) == [
        {"startPeriod": 0, "limit": 0.0}
    ]
    assert periods(default_profile(7.36789, now=NOW, options=options).payload) == [
        {"startPeriod": 0, "limit": 7367.8}
    ]
    single_phase = ProfileOptions(unit="W", phases=1)
    assert periods(default_profile(1.5, now=NOW, options=single_phase).payload) == [
        {"startPeriod": 0, "limit": 1500.0}  # 1380 W is 6 A on one phase
    ]


def test_single_phase_amps_name_their_phases() -> None:
    built = default_profile(3.68, now=NOW, options=ProfileOptions(phases=1))
    assert periods(built.payload) == [{"startPeriod": 0, "limit": 16.0, "numberPhases": 1}]


def test_truncation_keeps_the_smallest_cut_limit_and_sets_resend_at() -> None:
    plan = target((0, 15, 11.04), (15, 30, 7.0), (30, 45, 11.04), (45, 60, 8.28))
    built = tx_profile(plan, now=NOW, options=ProfileOptions(max_periods=3))
    assert periods(built.payload) == [
        {"startPeriod": 0, "limit": 16.0},
        {"startPeriod": 900, "limit": 10.1},
        {"startPeriod": 1800, "limit": 0.0},  # min of 16, 12, 0 that were cut
    ]
    assert built.resend_at == at(30) - RESEND_LEAD
    untouched = tx_profile(plan, now=NOW, options=ProfileOptions(max_periods=5))
    assert len(periods(untouched.payload)) == 5
    assert untouched.resend_at is None


def test_fewer_periods_builds_half_the_schedule_cut_with_resend_at() -> None:
    """The ``fewer_periods`` step: the schedule a station refused, halved the
    way ``max_periods`` cuts it (never above the plan, sent again before the cut)."""
    steps = [Rate(at(15 * i), at(15 * (i + 1)), 11.04 if i % 2 else 7.0, KW) for i in range(8)]
    full = build("ChargePointMaxProfile", 0, steps, now=at(0), options=ProfileOptions())
    assert len(full.limits_kw) == 8 and full.resend_at is None
    halved = build(
        "ChargePointMaxProfile", 0, steps, now=at(0),
        options=options_for_step("fewer_periods", ProfileOptions(), periods=8),
    )  # fmt: skip
    assert [(r.start, round(r.value, 2)) for r in halved.limits_kw] == [
        (at(0), 6.97), (at(15), 11.04), (at(30), 6.97),  # the cut's floor merges into 30'
    ]  # fmt: skip
    assert halved.resend_at == at(40)


def test_truncation_to_one_period() -> None:
    plan = target((0, 15, 11.04), (15, 30, 7.0), after_kw=11.04)
    built = tx_profile(plan, now=NOW, options=ProfileOptions(max_periods=1))
    assert periods(built.payload) == [{"startPeriod": 0, "limit": 10.1}]
    assert built.resend_at == at(15) - RESEND_LEAD


def test_station_cap_off_and_default_profiles() -> None:
    options = ProfileOptions()
    cap = station_cap_profile(
        [Rate(at(0), at(60), 22.08, "kW"), Rate(at(60), at(120), 11.04, "kW")],
        now=NOW,
        options=options,
    )
    assert cap.payload["chargingProfilePurpose"] == "ChargePointMaxProfile"
    assert cap.connector_id == 0 and cap.stack_level == 1
    assert periods(cap.payload) == [
        {"startPeriod": 0, "limit": 32.0},
        {"startPeriod": 3600, "limit": 16.0},
    ]
    off = off_profile(now=NOW, options=options)
    assert off.profile_id == cap.profile_id == profile_id("ChargePointMaxProfile", 0)
    assert periods(off.payload) == [{"startPeriod": 0, "limit": 0.0}]
    default = default_profile(7.0, now=NOW, options=options)
    assert default.payload["chargingProfilePurpose"] == "TxDefaultProfile"
    assert default.stack_level == 0 and default.connector_id == 0
    assert "transactionId" not in default.payload


def test_profile_ids_are_stable_and_distinct() -> None:
    ids = {
        profile_id(purpose, connector)
        for purpose in ("TxDefaultProfile", "TxProfile", "ChargePointMaxProfile")
        for connector in range(4)
    }
    assert len(ids) == 12
    assert profile_id("TxProfile", 2) == profile_id("TxProfile", 2)


def test_stack_levels() -> None:
    plan = target((0, 30, 11.04))
    assert tx_profile(plan, now=NOW, options=ProfileOptions()).stack_level == 1
    assert tx_profile(plan, now=NOW, options=ProfileOptions(max_stack_level=0)).stack_level == 0
    level0 = tx_profile(plan, now=NOW, options=ProfileOptions(stack_level_0=True))
    assert level0.stack_level == 0 and level0.payload["stackLevel"] == 0
    assert default_profile(7.0, now=NOW, options=ProfileOptions()).stack_level == 0


def test_relative_tx_profile_counts_from_the_transaction_start() -> None:
    built = tx_profile(
        target((0, 30, 11.04), (60, 90, 7.0)), now=NOW, options=ProfileOptions(kind="Relative")
    )
    schedule = built.payload["chargingSchedule"]
    assert isinstance(schedule, dict)
    assert "startSchedule" not in schedule
    # the transaction started 30 min before now
    assert periods(built.payload) == [
        {"startPeriod": 0, "limit": 16.0},
        {"startPeriod": 3600, "limit": 0.0},
        {"startPeriod": 5400, "limit": 10.1},
        {"startPeriod": 7200, "limit": 0.0},
    ]
    assert built.limits_kw[1].start == at(30)


def test_relative_cap_sends_only_the_limit_in_force_and_resends() -> None:
    cap = station_cap_profile(
        [Rate(at(0), at(60), 22.08, "kW"), Rate(at(60), at(120), 11.04, "kW")],
        now=NOW,
        options=ProfileOptions(kind="Relative"),
    )
    assert periods(cap.payload) == [{"startPeriod": 0, "limit": 32.0}]
    assert cap.resend_at == at(60) - RESEND_LEAD


def test_a_relative_cap_takes_a_decrease_only_as_early_as_its_lead() -> None:
    """The enforcer's lead is how long until the sweep surely sends again:
    a decrease 2 minutes ahead is in force now with a 2-minute lead, not
    with a 1-minute one (it is then sent again a minute before it)."""
    steps = [Rate(at(0), at(60), 22.08, "kW"), Rate(at(60), at(120), 11.04, "kW")]
    lead = timedelta(minutes=2)
    early = station_cap_profile(
        steps, now=at(58), options=ProfileOptions(kind="Relative", lead=lead)
    )
    assert periods(early.payload) == [{"startPeriod": 0, "limit": 16.0}]
    later = station_cap_profile(
        steps, now=at(57), options=ProfileOptions(kind="Relative", lead=lead)
    )
    assert periods(later.payload) == [{"startPeriod": 0, "limit": 32.0}]
    assert later.resend_at == at(58)


def test_a_relative_cap_keeps_until_the_moment_what_its_own_plan_ends_then() -> None:
    """A share that falls because the station's own car stops then (its
    TxProfile ends that power on time) stays until the moment itself: taken
    a lead early, it ended the car's charge before its departure (e2e,
    DELTA). What another station takes at that moment is still taken early."""
    steps = [Rate(at(0), at(60), 22.08, "kW"), Rate(at(60), at(120), 11.04, "kW")]
    lead = timedelta(minutes=2)
    options = ProfileOptions(kind="Relative", lead=lead)
    own_stops = [Rate(at(0), at(60), 11.04, "kW")]  # the whole 11.04 kW fall is its own
    kept = build(
        "ChargePointMaxProfile", 0, steps, now=at(58), options=options, own_load_kw=own_stops
    )
    assert periods(kept.payload) == [{"startPeriod": 0, "limit": 32.0}]
    assert kept.resend_at == at(60)
    at_the_moment = build(
        "ChargePointMaxProfile", 0, steps, now=at(60), options=options, own_load_kw=own_stops
    )
    assert periods(at_the_moment.payload) == [{"startPeriod": 0, "limit": 16.0}]
    # its own power falls by 6.9 kW (10 A) of the 16 A: the other 6 A go early
    own_falls = [Rate(at(0), at(60), 11.04, "kW"), Rate(at(60), at(120), 4.14, "kW")]
    part = build(
        "ChargePointMaxProfile", 0, steps, now=at(58), options=options, own_load_kw=own_falls
    )
    assert periods(part.payload) == [{"startPeriod": 0, "limit": 26.0}]


def test_steps_of_reads_back_what_was_built() -> None:
    for options in (ProfileOptions(), ProfileOptions(kind="Relative"), ProfileOptions(unit="W")):
        built = tx_profile(target((0, 30, 11.04), (60, 90, 7.0)), now=NOW, options=options)
        steps = steps_of(
            built.payload, now=T0, voltage=230.0, phases=3, transaction_started_at=TX_START
        )
        for minute in (0, 10, 30, 59, 60, 89, 90, 500):
            assert limit_at(steps, at(minute)) == pytest.approx(
                limit_at(built.limits_kw, at(minute))
            )


# -- options -------------------------------------------------------------------


def test_options_from_capabilities() -> None:
    assert options_for(Capabilities(), None) == ProfileOptions()
    caps = Capabilities(
        charge_profile_max_stack_level=0,
        charging_rate_units=("Power",),
        charging_schedule_max_periods=5,
    )
    options = options_for(caps, None, voltage=220.0, phases=1)
    assert options == ProfileOptions(
        max_stack_level=0, units=("W",), max_periods=5, unit="W",
        stack_level_0=True, voltage=220.0, phases=1,
    )  # fmt: skip


def test_w_spelling_reads_as_power() -> None:
    caps = Capabilities(charging_rate_units=("W",))
    assert options_for(caps, None).units == ("W",)
    assert options_for(caps, None).unit == "W"


def test_learned_options_apply_when_allowed() -> None:
    learned = LearnedProfileOptions("V", "M", stack_level_0=True, kind="Relative", unit="W")
    options = options_for(Capabilities(), learned)
    assert (options.stack_level_0, options.kind, options.unit) == (True, "Relative", "W")
    only_amps = options_for(Capabilities(charging_rate_units=("Current",)), learned)
    assert only_amps.unit == "A"


@pytest.mark.parametrize(
    ("advertised", "learned", "expected"),
    [(24, 4, 4), (3, 4, 3), (None, 4, 4), (24, None, 24), (None, None, None), (0, 4, 4)],
)
def test_max_periods_is_the_least_of_advertised_and_learned(
    advertised: int | None, learned: int | None, expected: int | None
) -> None:
    """A model that refused more periods than it advertises keeps to what it took."""
    caps = Capabilities(charging_schedule_max_periods=advertised)
    options = options_for(caps, LearnedProfileOptions("V", "M", max_periods=learned))
    assert options.max_periods == expected


def test_each_escalation_step_options() -> None:
    base = ProfileOptions()
    assert options_for_step("plain", base) == base
    assert options_for_step("resend", base) == base
    assert options_for_step("clear_and_set", base) == base
    assert options_for_step("stack_level_0", base).stack_level_0
    assert options_for_step("flip_kind", base).kind == "Relative"
    assert options_for_step("flip_kind", ProfileOptions(kind="Relative")).kind == "Absolute"
    assert options_for_step("flip_unit", base).unit == "W"
    assert options_for_step("flip_unit", ProfileOptions(unit="W")).unit == "A"
    assert options_for_step("fewer_periods", base, periods=9).max_periods == 4
    assert options_for_step("fewer_periods", base, periods=3).max_periods == 1
    assert options_for_step("fewer_periods", base, periods=1) == base
    assert options_for_step("fewer_periods", base) == base
    with pytest.raises(ValueError, match="unknown"):
        options_for_step("pray", base)


def test_next_step_skips_what_cannot_apply() -> None:
    base = ProfileOptions()
    walk = ["plain"]
    while (step := next_step(walk[-1], base)) is not None:
        walk.append(step)
    assert tuple(walk) == ESCALATION
    assert next_step("clear_and_set", base, periods=2) == "fewer_periods"
    assert next_step("clear_and_set", base, periods=1) == "stack_level_0"
    narrow = ProfileOptions(stack_level_0=True, units=("A",))
    assert next_step("clear_and_set", narrow, periods=1) == "flip_kind"
    assert next_step("fewer_periods", narrow) == "flip_kind"
    assert next_step("flip_kind", narrow) is None


# -- the property ----------------------------------------------------------------

powers = st.sampled_from([0.0, 1.0, 3.0, 4.14, 4.2, 5.5, 7.0, 7.4, 11.0, 11.04, 16.5, 22.08])


@st.composite
def plans(draw: st.DrawFn) -> ConnectorTarget:
    count = draw(st.integers(0, 8))
    cursor = draw(st.integers(-30, 60))
    segments = []
    for _ in range(count):
        cursor += draw(st.integers(0, 45))
        length = draw(st.integers(1, 90))
        segments.append((cursor, cursor + length, draw(powers)))
        cursor += length
    after = draw(st.none() | powers)
    return target(*segments, after_kw=after)


def plan_kw(plan: ConnectorTarget, moment: datetime) -> float:
    for segment in plan.segments:
        if segment.start <= moment < segment.end:
            return segment.power_kw
    if plan.segments and moment < max(s.end for s in plan.segments):
        return 0.0
    return plan.after_kw or 0.0


def expected_kw(kw: float, options: ProfileOptions) -> float:
    """The plan's power after the 6 A rule and rounding down to 0.1 in the unit."""
    watts = kw * 1000
    if watts < 6 * options.voltage * options.phases:
        return 0.0
    if options.unit == "W":
        return int(watts * 10 + 1e-6) / 10 / 1000
    amps = int(watts / (options.voltage * options.phases) * 10 + 1e-6) / 10
    return amps * options.voltage * options.phases / 1000


@given(
    plans(),
    st.sampled_from(["A", "W"]),
    st.sampled_from(["Absolute", "Relative"]),
    st.sampled_from([1, 3]),
    st.none() | st.integers(1, 6),
)
def test_profile_never_exceeds_the_plan(
    plan: ConnectorTarget, unit: str, kind: str, phases: int, max_periods: int | None
) -> None:
    options = ProfileOptions(unit=unit, kind=kind, phases=phases, max_periods=max_periods)  # type: ignore[arg-type]
    built = tx_profile(plan, now=NOW, options=options)
    steps = steps_of(
        built.payload, now=T0, voltage=230.0, phases=phases, transaction_started_at=TX_START
    )
    moments = {T0, at(2000)} | {s.start for s in plan.segments} | {s.end for s in plan.segments}
    moments |= {m - timedelta(seconds=1) for m in moments}
    for moment in sorted(m for m in moments if m >= T0):
        sent = limit_at(steps, moment)
        assert sent is not None
        assert sent <= plan_kw(plan, moment) + 1e-9
        assert limit_at(built.limits_kw, moment) == pytest.approx(sent)
        if built.resend_at is None:
            assert sent == pytest.approx(expected_kw(plan_kw(plan, moment), options))


def test_relative_cap_rise_is_resent_at_the_rise_not_before() -> None:
    """Bug (e2e, DELTA-02): a 0 kW Relative cap rising to 7.4 kW must be sent
    again at the rise (sending it early would allow more than the plan)."""
    steps = [Rate(at(0), at(35), 0.0, "kW"), Rate(at(35), at(120), 7.4, "kW")]
    cap = station_cap_profile(steps, now=NOW, options=ProfileOptions(kind="Relative"))
    assert periods(cap.payload) == [{"startPeriod": 0, "limit": 0.0}]
    assert cap.resend_at == at(35)
    later = station_cap_profile(steps, now=at(35), options=ProfileOptions(kind="Relative"))
    assert periods(later.payload) == [{"startPeriod": 0, "limit": 10.7}]
    assert later.resend_at is None


def test_relative_cap_decrease_inside_the_lead_is_sent_early() -> None:
    steps = [Rate(at(0), at(3), 11.04, "kW"), Rate(at(3), at(60), 0.0, "kW"),
             Rate(at(60), at(120), 11.04, "kW")]  # fmt: skip
    cap = station_cap_profile(steps, now=NOW, options=ProfileOptions(kind="Relative"))
    assert periods(cap.payload) == [{"startPeriod": 0, "limit": 0.0}]
    assert cap.resend_at == at(60)


@pytest.mark.parametrize(
    ("kw", "expected"), [(11.0, 10.971), (7.4, 7.383), (6.9, 6.9), (22.08, 22.08), (0.0, 0.0)]
)
def test_expressible_power_is_what_one_decimal_of_amps_can_ask(kw: float, expected: float) -> None:
    assert expressible_kw(kw) == pytest.approx(expected)
    # and an A profile built at that power asks exactly it (a plan the station can be told)
    built = build("TxProfile", 1, [Rate(NOW, NOW + FOREVER, expected, KW)], now=NOW,
                  options=ProfileOptions())  # fmt: skip
    assert built.limits_kw[0].value == pytest.approx(expected)


@pytest.mark.parametrize("kind", ["Absolute", "Relative"])
def test_a_change_at_a_fraction_of_a_second_is_asked_where_the_station_applies_it(
    kind: str,
) -> None:
    """e2e finding (ALFEN, 17:06): a cap share rising at 01:08:48.043 (a plan
    segment ending mid-second) was sent as startPeriod 28968 (truncated) while
    we expected the rise .043 s later: the station's composite "allowed 6.07 kW
    where we asked 0" at 01:08:48, the check failed at every step, the ladder
    learned one period for the whole model, and every station of it got a
    single-period cap of the least share of the night: 0 A. The limits we
    check against must start where the periods do; a rise is rounded up to the
    next second, a fall down (never more than the plan)."""
    rise = T0 + timedelta(seconds=28968.043478)
    fall = rise + timedelta(minutes=20, seconds=0.5)
    steps = [
        Rate(T0, rise, 0.0, KW),
        Rate(rise, fall, 6.14, KW),
        Rate(fall, fall + FOREVER, 2.0, KW),
    ]
    options = ProfileOptions(kind="Relative") if kind == "Relative" else ProfileOptions()
    built = build("TxProfile", 1, steps, now=NOW, options=options, transaction_started_at=T0)
    schedule = built.payload["chargingSchedule"]
    assert isinstance(schedule, dict)
    offsets = [p["startPeriod"] for p in schedule["chargingSchedulePeriod"]]
    assert offsets == [0, 28969, 30168]  # the rise rounded up, the fall down
    assert [r.start for r in built.limits_kw] == [T0 + timedelta(seconds=o) for o in offsets]
    assert all(r.start.microsecond == 0 for r in built.limits_kw)
    # never more than asked, at any instant
    for r in built.limits_kw:
        for moment in (r.start, r.end - timedelta(microseconds=1)):
            if moment < fall + timedelta(hours=1):
                assert r.value <= (limit_at(steps, moment) or 0.0) + 1e-9


def test_changes_within_one_second_keep_the_least_limit() -> None:
    """A rise and a fall inside the same second (rounded up and down onto
    each other): the limit before holds to the rise's second, then the least
    of both (never more than asked at any instant)."""
    rise = T0 + timedelta(seconds=60.2)
    fall = T0 + timedelta(seconds=60.7)
    steps = [
        Rate(T0, rise, 4.14, KW),
        Rate(rise, fall, 11.0, KW),
        Rate(fall, fall + FOREVER, 6.9, KW),
    ]
    built = build("ChargePointMaxProfile", 0, steps, now=NOW, options=ProfileOptions())
    schedule = built.payload["chargingSchedule"]
    assert isinstance(schedule, dict)
    periods = schedule["chargingSchedulePeriod"]
    assert [p["startPeriod"] for p in periods] == [0, 61]
    assert [p["limit"] for p in periods] == [6.0, 10.0]
    assert [r.start for r in built.limits_kw] == [T0, T0 + timedelta(seconds=61)]
