"""Stations: registration with an AuthorizationKey, boot, presence, status.

Keys are stored only as salted hashes (see opencsms.security.keys); the clear
key is returned once, at registration, and never again.
"""

from __future__ import annotations

import asyncio
import builtins
from dataclasses import dataclass
from datetime import datetime

from opencsms.domain.clock import Clock, utc_now
from opencsms.domain.events import EventBus
from opencsms.domain.model import (
    ConnectorStatus,
    Station,
    StationEvent,
    StationInfo,
    StatusReport,
)
from opencsms.domain.ports import Repositories, UnitOfWork
from opencsms.security import keys


@dataclass(frozen=True, slots=True)
class BootResult:
    accepted: bool
    current_time: datetime
    interval: int


class StationService:
    def __init__(
        self,
        uow: UnitOfWork,
        clock: Clock = utc_now,
        *,
        heartbeat_interval: int = 300,
        key_hash_cost: int = 14,
        events: EventBus | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._events = events
        """Published to after each commit: station.booted, connector.status."""
        self._heartbeat_interval = heartbeat_interval
        self._key_hash_cost = key_hash_cost

    # -- administration ----------------------------------------------------

    async def register(self, station_id: str, key: str | None = None) -> str:
        """Register a station; return its AuthorizationKey in clear (shown once).

        Raises ``keys.InvalidKey`` for a key outside 16-20 octets and
        ``StationExists`` for a taken id.
        """
        clear = key if key is not None else keys.generate_key()
        key_hash = await self._hash(clear)
        station = Station(id=station_id, auth_key_hash=key_hash, registered_at=self._clock())

        async def work(repos: Repositories) -> None:
            await repos.stations.add(station)

        await self._uow.run(work)
        return clear

    async def set_key(self, station_id: str, key: str | None = None) -> str | None:
        """Replace a station's key; return the new clear key, None if unknown."""
        clear = key if key is not None else keys.generate_key()
        key_hash = await self._hash(clear)

        async def work(repos: Repositories) -> bool:
            return await repos.stations.set_auth_key_hash(station_id, key_hash)

        return clear if await self._uow.run(work) else None

    async def _hash(self, clear: str) -> str:
        """scrypt takes tens of milliseconds by design: in a thread, so the
        event loop keeps serving stations while an operator registers one."""
        octets = keys.parse_key(clear)  # InvalidKey at once, before the thread
        return await asyncio.to_thread(keys.hash_key, octets, self._key_hash_cost)

    async def set_lenient(self, station_id: str, lenient: bool) -> bool:
        async def work(repos: Repositories) -> bool:
            return await repos.stations.set_lenient_validation(station_id, lenient)

        return await self._uow.run(work)

    async def remove(self, station_id: str) -> bool:
        async def work(repos: Repositories) -> bool:
            return await repos.stations.remove(station_id)

        return await self._uow.run(work)

    async def list(self) -> list[Station]:
        async def work(repos: Repositories) -> list[Station]:
            return await repos.stations.list()

        return await self._uow.read(work)

    async def get(self, station_id: str) -> Station | None:
        async def work(repos: Repositories) -> Station | None:
            return await repos.stations.get(station_id)

        return await self._uow.read(work)

    # -- what stations report ------------------------------------------------

    async def boot(self, station_id: str, info: StationInfo) -> BootResult:
        now = self._clock()

        async def work(repos: Repositories) -> None:
            await repos.stations.record_boot(station_id, info, now)

        await self._uow.run(work)
        if self._events is not None and self._events.wants("station.booted"):
            data: dict[str, object] = {
                "vendor": info.vendor,
                "model": info.model,
                "serial_number": info.serial_number,
                "charge_box_serial_number": info.charge_box_serial_number,
                "firmware_version": info.firmware_version,
                "iccid": info.iccid,
                "imsi": info.imsi,
                "meter_type": info.meter_type,
                "meter_serial_number": info.meter_serial_number,
            }
            self._events.publish("station.booted", station_id, data)
        return BootResult(True, now, self._heartbeat_interval)

    async def heartbeat(self, station_id: str) -> datetime:
        now = self._clock()

        async def work(repos: Repositories) -> None:
            await repos.stations.record_seen(station_id, now)

        await self._uow.run(work)
        return now

    async def report_status(self, station_id: str, report: StatusReport) -> None:
        async def work(repos: Repositories) -> None:
            await repos.connectors.record(station_id, report, self._clock())

        await self._uow.run(work)
        if self._events is not None and self._events.wants("connector.status"):
            data: dict[str, object] = {
                "connector_id": report.connector_id,
                "status": report.status,
                "error_code": report.error_code,
                "timestamp": None if report.timestamp is None else report.timestamp.isoformat(),
                "info": report.info,
                "vendor_id": report.vendor_id,
                "vendor_error_code": report.vendor_error_code,
            }
            self._events.publish("connector.status", station_id, data)

    async def connector_status(self, station_id: str) -> builtins.list[ConnectorStatus]:
        async def work(repos: Repositories) -> builtins.list[ConnectorStatus]:
            return await repos.connectors.current(station_id)

        return await self._uow.read(work)

    async def record_event(self, station_id: str, kind: str, payload: dict[str, object]) -> None:
        """Keep DataTransfer / FirmwareStatus / DiagnosticsStatus messages."""
        event = StationEvent(station_id, kind, payload, self._clock())

        async def work(repos: Repositories) -> None:
            await repos.events.add(event)

        await self._uow.run(work)
