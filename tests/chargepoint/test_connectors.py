"""The 1.6 status state machine: statuses derived from facts, transitions inside the table."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from ocpp.v16.enums import ChargePointErrorCode
from ocpp.v16.enums import ChargePointStatus as S

from opencsms.chargepoint.connectors import (
    Connector,
    Reservation,
    Transaction,
    derive_status,
    transition_allowed,
)

T0 = datetime(2025, 1, 6, tzinfo=UTC)


def tx() -> Transaction:
    return Transaction(local_id=-1, connector_id=1, id_tag="T", start=T0, meter_start=0)


def test_derived_status_per_fact() -> None:
    c = Connector(1)
    assert derive_status(c) == S.available
    c.reservation = Reservation(1, "T", T0)
    assert derive_status(c) == S.reserved
    c.plugged = True
    assert derive_status(c) == S.preparing
    c.transaction = tx()
    assert derive_status(c) == S.charging
    c.evse_paused = True
    assert derive_status(c) == S.suspended_evse
    c.evse_paused, c.ev_suspended = False, True
    assert derive_status(c) == S.suspended_ev
    c.fault = ChargePointErrorCode.ground_failure
    assert derive_status(c) == S.faulted
    c.fault, c.transaction, c.finishing = None, None, True
    assert derive_status(c) == S.finishing
    c.inoperative = True
    assert derive_status(c) == S.unavailable
    assert derive_status(Connector(0, inoperative=True)) == S.unavailable
    assert derive_status(Connector(0, plugged=True)) == S.available


@pytest.mark.parametrize(
    "path",
    [
        # plug first, then tag; charge, EV full, unplug after stop
        [S.available, S.preparing, S.charging, S.suspended_ev, S.finishing, S.available],
        # tag first, plug, smart charging pause, resume, EV unplugs mid-session
        [S.available, S.preparing, S.charging, S.suspended_evse, S.charging, S.available],
        # reserved, the holder arrives
        [S.available, S.reserved, S.preparing, S.charging, S.finishing, S.available],
        # scheduled unavailability after the transaction
        [S.charging, S.unavailable, S.available],
        # faults from anywhere and back
        [S.charging, S.faulted, S.finishing, S.available, S.faulted, S.available],
    ],
)
def test_station_sequences_stay_inside_the_table(path: list[S]) -> None:
    for old, new in itertools.pairwise(path):
        assert transition_allowed(old, new), (old, new)


def test_table_forbids_what_the_spec_forbids() -> None:
    assert not transition_allowed(S.available, S.finishing)
    assert not transition_allowed(S.preparing, S.reserved)
    assert not transition_allowed(S.reserved, S.charging)
    assert not transition_allowed(S.finishing, S.charging)
