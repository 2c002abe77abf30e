"""The wire side of enforcing a profile: one command, one composite schedule.

:class:`ProfileSender` sends through
:class:`~opencsms.domain.commands.CommandService` (validated, audited,
``requested_by="smart-charging"``) and reduces every way a command can end
(answered, refused here, offline, CALLERROR, timeout) to an :class:`Outcome`
the escalation ladder can act on; nothing raises. A CALLERROR is a refusal
(the next step may shape the profile so it passes), except ``NotSupported``
and ``NotImplemented``: no shape will do. A timeout is not a refusal: the
station may have installed the profile or not, and a station that does not
answer one profile will not answer another shape of it. A GetCompositeSchedule that
outlives ``verify_timeout`` is left running so its outcome is still recorded
in the audit trail; the profile counts as accepted but unverifiable.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from opencsms.domain.commands import (
    CommandService,
    InvalidCommand,
    StationOffline,
    UnknownStation,
)
from opencsms.domain.model import Command, CommandState
from opencsms.domain.smart_charging.profiles import BuiltProfile, ProfileOptions
from opencsms.domain.smart_charging.rates import Rate
from opencsms.domain.smart_charging.verification import (
    CompositeError,
    check_duration,
    composite_request,
    parse_composite,
)

REQUESTED_BY = "smart-charging"
OFFLINE = "offline"
UNSUPPORTED = ("NotSupported", "NotImplemented")
"""CALLERROR codes saying the station does not do the action at all."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a command ended, as the ladder sees it."""

    kind: str  # accepted | refused | offline | invalid | timeout
    detail: str | None = None


class ProfileSender:
    def __init__(self, commands: CommandService, *, verify_timeout: float = 30.0) -> None:
        self._commands = commands
        self._verify_timeout = verify_timeout
        self._late: set[asyncio.Task[Command]] = set()
        """Checks that outlived ``verify_timeout``: left to record their outcome."""

    async def command(self, station_id: str, action: str, payload: dict[str, object]) -> Outcome:
        try:
            command = await self._commands.execute(
                station_id, action, payload, requested_by=REQUESTED_BY
            )
        except StationOffline:
            return Outcome("offline", OFFLINE)
        except (InvalidCommand, UnknownStation) as exc:
            return Outcome("invalid", f"{action} refused here: {exc}")
        if command.state is CommandState.ANSWERED:
            if command.status in ("Accepted", "Unknown") or command.status is None:
                return Outcome("accepted")
            return Outcome("refused", f"{action} {command.status}")
        if command.state is CommandState.FAILED:
            return Outcome("offline", OFFLINE)
        if command.state is CommandState.ERROR:
            code = (command.error or "").split(":", 1)[0]
            if code in UNSUPPORTED:
                return Outcome("invalid", f"{action} not supported: CALLERROR {command.error}")
            return Outcome("refused", f"{action} CALLERROR {command.error}")
        if command.state is CommandState.TIMED_OUT:
            return Outcome("timeout", f"{action}: {command.error or 'no reply'}")
        return Outcome("refused", f"{action} {command.state.value}")

    async def composite(
        self,
        station_id: str,
        connector_id: int,
        built: BuiltProfile,
        options: ProfileOptions,
        now: datetime,
    ) -> tuple[str, tuple[Rate, ...] | str]:
        """GetCompositeSchedule over the horizon ``built`` needs, in its unit:
        ("ok", kW steps) or ("unverifiable" | "offline", why)."""
        request = composite_request(
            connector_id, duration=check_duration(built.limits_kw, now), unit=options.unit
        )
        task = asyncio.ensure_future(
            self._commands.execute(
                station_id, "GetCompositeSchedule", request, requested_by=REQUESTED_BY
            )
        )
        done, _ = await asyncio.wait({task}, timeout=self._verify_timeout)
        if not done:
            self._late.add(task)
            task.add_done_callback(self._late.discard)
            return "unverifiable", "accepted; GetCompositeSchedule took too long"
        try:
            command = task.result()
        except StationOffline:
            return "offline", "accepted; offline before the check"
        except (InvalidCommand, UnknownStation) as exc:
            return "unverifiable", f"accepted; GetCompositeSchedule refused here: {exc}"
        if command.state is not CommandState.ANSWERED or command.response is None:
            return "unverifiable", f"accepted; GetCompositeSchedule {command.state.value}"
        try:
            return "ok", parse_composite(
                command.response, voltage=options.voltage, phases=options.phases
            )
        except CompositeError as exc:
            return "unverifiable", f"accepted; {exc}"
