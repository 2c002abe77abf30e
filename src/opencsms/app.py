"""The composition root: the one place that wires storage, domain services,
the OCPP listener and (later) the API and the cluster bus together.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

import structlog
from websockets.asyncio.server import Server, ServerConnection

from opencsms.config import Settings
from opencsms.domain.authorization import AuthorizationService, TagService
from opencsms.domain.metering import MeteringService
from opencsms.domain.model import Station
from opencsms.domain.stations import StationService
from opencsms.domain.transactions import TransactionService
from opencsms.ocpp.listener import ListenerConfig, serve_stations
from opencsms.ocpp.router import Router
from opencsms.ocpp.session import OcppSession
from opencsms.security.devcerts import ensure_dev_certificates
from opencsms.security.station_auth import StationAuthenticator
from opencsms.security.throttle import LoginThrottle
from opencsms.security.tls import server_ssl_context
from opencsms.stations.registry import SessionRegistry
from opencsms.storage import SqlUnitOfWork, open_storage
from opencsms.v16.uplink import UplinkHandlers

log = structlog.get_logger("opencsms")


@dataclass(frozen=True, slots=True)
class Services:
    """The domain services over one storage; also what the CLI uses."""

    uow: SqlUnitOfWork
    stations: StationService
    tags: TagService
    authorization: AuthorizationService
    transactions: TransactionService
    metering: MeteringService

    @classmethod
    async def open(cls, settings: Settings) -> Services:
        uow = await open_storage(settings.resolved_database_url, settings.sqlite_synchronous)
        return cls(
            uow=uow,
            stations=StationService(
                uow,
                heartbeat_interval=settings.heartbeat_interval,
                key_hash_cost=settings.key_hash_cost,
            ),
            tags=TagService(uow),
            authorization=AuthorizationService(uow),
            transactions=TransactionService(uow),
            metering=MeteringService(uow),
        )

    async def close(self) -> None:
        await self.uow.close()


class CentralSystem:
    """A running central system node. ``await start()``, then ``await stop()``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = SessionRegistry()
        self.ca_file: Path | None = None
        self._services: Services | None = None
        self._server: Server | None = None
        self._router = Router()
        self._station_records: dict[str, Station] = {}
        """The record each station's latest login read, reused by the connection
        that follows: one database read per connect, not two (a reconnect storm
        of 10,000 stations queued the second read until it timed out)."""

    @property
    def services(self) -> Services:
        assert self._services is not None, "start() first"
        return self._services

    @property
    def ocpp_port(self) -> int:
        assert self._server is not None, "start() first"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def ocpp_url(self) -> str:
        scheme = "ws" if self.settings.insecure_plain_ws else "wss"
        host = self.settings.ocpp_host
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"{scheme}://{shown}:{self.ocpp_port}{self.settings.ocpp_path_prefix}"

    async def start(self) -> None:
        settings = self.settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self._services = await Services.open(settings)
        UplinkHandlers(
            self.services.stations,
            self.services.authorization,
            self.services.transactions,
            self.services.metering,
            data_transfer_status=settings.data_transfer_status,
        ).register(self._router)
        authenticator = StationAuthenticator(
            self._key_hash,
            LoginThrottle(time.monotonic, threshold=settings.auth_failure_threshold),
            cost=settings.key_hash_cost,
        )
        self._server = await serve_stations(
            ListenerConfig(
                host=settings.ocpp_host,
                port=settings.ocpp_port,
                ssl_context=None if settings.insecure_plain_ws else self._ssl_context(),
                path_prefix=settings.ocpp_path_prefix,
                max_message_bytes=settings.max_message_bytes,
                ping_interval=settings.ping_interval,
                ping_timeout=settings.ping_timeout,
                handshake_timeout=settings.handshake_timeout,
            ),
            authenticator.authenticate,
            self._on_connect,
        )
        log.info("central system listening", url=self.ocpp_url, ca_file=str(self.ca_file))

    def _ssl_context(self) -> ssl.SSLContext:
        settings = self.settings
        pairs: list[tuple[Path, Path]] = []
        if settings.tls_cert_file and settings.tls_key_file:
            pairs.append((settings.tls_cert_file, settings.tls_key_file))
        if settings.tls_ecdsa_cert_file and settings.tls_ecdsa_key_file:
            pairs.append((settings.tls_ecdsa_cert_file, settings.tls_ecdsa_key_file))
        if not pairs:
            dev = ensure_dev_certificates(settings.data_dir / "tls", settings.dev_hostnames)
            pairs = [(dev.rsa_cert, dev.rsa_key), (dev.ecdsa_cert, dev.ecdsa_key)]
            self.ca_file = dev.ca_cert
        return server_ssl_context(pairs, enable_tls13=settings.tls_enable_1_3)

    async def _key_hash(self, station_id: str) -> str | None:
        station = await self.services.stations.get(station_id)
        if station is None:
            self._station_records.pop(station_id, None)
            return None
        self._station_records[station_id] = station
        return station.auth_key_hash

    async def _on_connect(self, station_id: str, connection: ServerConnection) -> None:
        station = self._station_records.get(station_id)  # read by this login, just now
        session = OcppSession(
            station_id,
            connection,
            self._router,
            response_timeout=self.settings.response_timeout,
            lenient=station.lenient_validation if station is not None else False,
        )
        self.registry.attach(session)
        log.info("station connected", station=station_id)
        try:
            await session.run()
        finally:
            self.registry.detach(session)
            log.info("station disconnected", station=station_id)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._services is not None:
            await self._services.close()
            self._services = None

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()
