"""Local authorization lists: SendLocalList (Full, Differential), GetLocalListVersion.

The stored list of a station is what the station holds as far as we know:
it changes only when a SendLocalList is answered Accepted (followed through
:meth:`CommandService.on_finished`, so a queued update counts when it is
delivered). A new version must be greater than the stored one; a station
whose own version is not older answers VersionMismatch, and that answer, like
Failed and NotSupported, is kept on the command and leaves the stored list
unchanged. :meth:`LocalListService.station_version` asks the station
(GetLocalListVersion) so an operator can see whether the two agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from opencsms.domain.clock import Clock, utc_now
from opencsms.domain.commands import CommandService, InvalidCommand, UnknownStation
from opencsms.domain.model import (
    Command,
    CommandState,
    LocalList,
    LocalListEntry,
    TagStatus,
)
from opencsms.domain.ports import Repositories, UnitOfWork

FULL = "Full"
DIFFERENTIAL = "Differential"
ID_TAG_MAX = 20


@dataclass(frozen=True, slots=True)
class ListVersions:
    command: Command
    station_version: int | None
    """What the station answered (-1: local lists disabled there; None: no answer)."""
    stored_version: int | None


def _format_time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def entry_to_wire(entry: LocalListEntry) -> dict[str, object]:
    item: dict[str, object] = {"idTag": entry.id_tag}
    if entry.status is not None:
        info: dict[str, object] = {"status": entry.status.value}
        if entry.expiry_date is not None:
            info["expiryDate"] = _format_time(entry.expiry_date)
        if entry.parent_id_tag is not None:
            info["parentIdTag"] = entry.parent_id_tag
        item["idTagInfo"] = info
    return item


def entry_from_wire(item: dict[str, Any]) -> LocalListEntry:
    info = item.get("idTagInfo")
    if not isinstance(info, dict):
        return LocalListEntry(str(item["idTag"]))
    expiry = info.get("expiryDate")
    return LocalListEntry(
        id_tag=str(item["idTag"]),
        status=TagStatus(info["status"]),
        expiry_date=None
        if expiry is None
        else datetime.fromisoformat(str(expiry).replace("Z", "+00:00")),
        parent_id_tag=info.get("parentIdTag"),
    )


def check_update(update_type: str, version: int, entries: Sequence[LocalListEntry]) -> None:
    """The rules we can check before sending (raises :class:`InvalidCommand`)."""
    if update_type not in (FULL, DIFFERENTIAL):
        raise InvalidCommand(f"updateType must be {FULL} or {DIFFERENTIAL}")
    if version < 1:
        raise InvalidCommand("listVersion must be at least 1")
    seen: set[str] = set()
    for entry in entries:
        if not 0 < len(entry.id_tag) <= ID_TAG_MAX:
            raise InvalidCommand(f"idTag {entry.id_tag!r}: 1 to {ID_TAG_MAX} characters")
        if entry.id_tag in seen:
            raise InvalidCommand(f"idTag {entry.id_tag!r} is listed twice")
        seen.add(entry.id_tag)
        if entry.status is None and update_type == FULL:
            raise InvalidCommand(f"idTag {entry.id_tag!r}: a full list needs a status for each tag")
        if entry.parent_id_tag is not None and not 0 < len(entry.parent_id_tag) <= ID_TAG_MAX:
            raise InvalidCommand(f"parentIdTag of {entry.id_tag!r}: 1 to {ID_TAG_MAX} characters")
        if entry.expiry_date is not None and entry.expiry_date.utcoffset() is None:
            raise InvalidCommand(f"expiryDate of {entry.id_tag!r} needs a time zone")


class LocalListService:
    def __init__(self, uow: UnitOfWork, commands: CommandService, clock: Clock = utc_now) -> None:
        self._uow = uow
        self._commands = commands
        self._clock = clock
        commands.on_finished("SendLocalList", self._send_finished)

    async def get(self, station_id: str) -> LocalList | None:
        """The stored list; raises :class:`UnknownStation`."""

        async def work(repos: Repositories) -> LocalList | None:
            if await repos.stations.get(station_id) is None:
                raise UnknownStation(station_id)
            return await repos.local_lists.get(station_id)

        return await self._uow.read(work)

    async def send(
        self,
        station_id: str,
        update_type: str,
        version: int,
        entries: Sequence[LocalListEntry],
        *,
        requested_by: str,
        queue_ttl: timedelta | None = None,
    ) -> Command:
        """Send a Full or Differential update; the stored list follows an
        Accepted answer. Raises :class:`InvalidCommand` (bad entries, or a
        version not above the stored one) and :class:`UnknownStation` with
        nothing stored, ``StationOffline`` as :meth:`CommandService.execute`."""
        check_update(update_type, version, entries)
        current = await self.get(station_id)
        if current is not None and version <= current.version:
            raise InvalidCommand(
                f"listVersion {version} must be greater than the current version {current.version}"
            )
        payload: dict[str, object] = {
            "listVersion": version,
            "updateType": update_type,
            "localAuthorizationList": [entry_to_wire(entry) for entry in entries],
        }
        return await self._commands.execute(
            station_id, "SendLocalList", payload, requested_by=requested_by, queue_ttl=queue_ttl
        )

    async def station_version(self, station_id: str, *, requested_by: str) -> ListVersions:
        """Ask the station for its list version (GetLocalListVersion)."""
        stored = await self.get(station_id)
        command = await self._commands.execute(
            station_id, "GetLocalListVersion", {}, requested_by=requested_by
        )
        version = None
        if command.state is CommandState.ANSWERED and command.response is not None:
            answered = command.response.get("listVersion")
            version = answered if isinstance(answered, int) else None
        return ListVersions(command, version, None if stored is None else stored.version)

    async def _send_finished(self, command: Command) -> None:
        if command.state is not CommandState.ANSWERED or command.status != "Accepted":
            return
        payload = command.payload
        version = payload["listVersion"]
        items = payload.get("localAuthorizationList") or []
        assert isinstance(version, int) and isinstance(items, list)
        entries = [entry_from_wire(item) for item in items]
        now = self._clock()

        async def work(repos: Repositories) -> None:
            if payload["updateType"] == FULL:
                await repos.local_lists.replace(command.station_id, version, entries, now)
            else:
                await repos.local_lists.apply_update(command.station_id, version, entries, now)

        await self._uow.run(work)
