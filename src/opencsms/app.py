"""The composition root: the one place that wires storage, domain services,
the OCPP listener and (later) the API and the cluster bus together.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import structlog
from websockets.asyncio.server import Server, ServerConnection

from opencsms.api.app import create_app
from opencsms.api.context import ApiContext
from opencsms.api.server import ApiServer
from opencsms.config import Settings
from opencsms.domain.api_keys import ApiKeyService
from opencsms.domain.authorization import AuthorizationService, TagService
from opencsms.domain.clock import Clock, utc_now
from opencsms.domain.commands import CommandService, StationLink
from opencsms.domain.diagnostics import DiagnosticsService
from opencsms.domain.events import EventBus
from opencsms.domain.firmware import FirmwareService
from opencsms.domain.fleet_view import FleetView
from opencsms.domain.local_lists import LocalListService
from opencsms.domain.metering import MeteringService
from opencsms.domain.model import Station
from opencsms.domain.operators import OperatorService
from opencsms.domain.provisioning import ProvisioningPolicy, ProvisioningService
from opencsms.domain.reservations import ReservationService
from opencsms.domain.security_events import SecurityEventLog
from opencsms.domain.smart_charging.enforcement import ProfileEnforcer
from opencsms.domain.smart_charging.live_inputs import LiveDefaults
from opencsms.domain.smart_charging.service import (
    ProfileApplier,
    SmartChargingOptions,
    SmartChargingService,
)
from opencsms.domain.stations import StationService
from opencsms.domain.transactions import TransactionService
from opencsms.domain.webhooks import WebhookService
from opencsms.metrics import Metrics
from opencsms.ocpp.listener import ListenerConfig, serve_stations
from opencsms.ocpp.router import Payload, Router
from opencsms.ocpp.session import OcppSession
from opencsms.security.devcerts import ensure_dev_certificates
from opencsms.security.station_auth import StationAuthenticator
from opencsms.security.throttle import LoginThrottle
from opencsms.security.tls import server_ssl_context
from opencsms.stations.command_delivery import CommandDelivery
from opencsms.stations.link import OfflineLink, RegistryLink
from opencsms.stations.message_log import MessageLog
from opencsms.stations.registry import SessionRegistry
from opencsms.storage import SqlUnitOfWork, open_storage
from opencsms.v16.commands import validate_command
from opencsms.v16.uplink import UplinkHandlers
from opencsms.webhook_sender import HttpxSender

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
    api_keys: ApiKeyService
    fleet: FleetView
    """The operator's read side: station pages, filtered transactions."""
    commands: CommandService
    """CSMS-initiated commands; reach stations through the ``link`` given to
    :meth:`open` (without one, as in the CLI, every station is offline and
    commands fail or wait in the queue for the node that serves them)."""
    firmware: FirmwareService
    """Firmware images served to stations, and the jobs that update them."""
    diagnostics: DiagnosticsService
    """GetDiagnostics jobs and the files stations upload for them."""
    events: EventBus
    """This node's domain events (live stream, webhooks, metrics); the services
    publish to it after their commits."""
    provisioning: ProvisioningService
    """Brings each station to the desired configuration when it is ready."""
    reservations: ReservationService
    local_lists: LocalListService
    webhooks: WebhookService
    """Webhooks and their delivery log; the node runs its dispatcher (``start``)."""
    smart_charging: SmartChargingService
    """Signals, sites, needs and plans; pushes each station's target to the
    profile enforcer. The node runs its triggers and sweep (``start``)."""
    operators: OperatorService
    """Dashboard accounts and their cookie sessions."""
    security: SecurityEventLog
    """Logins, failed logins and account changes (the dashboard's security page)."""

    @classmethod
    async def open(
        cls,
        settings: Settings,
        events: EventBus | None = None,
        link: StationLink | None = None,
        clock: Clock = utc_now,
    ) -> Services:
        uow = await open_storage(settings.resolved_database_url, settings.sqlite_synchronous)
        events = EventBus() if events is None else events
        commands = CommandService(
            uow, OfflineLink() if link is None else link, validate_command, events=events
        )
        policy = ProvisioningPolicy(
            desired=dict(settings.provisioning_configuration),
            reboot_when_required=settings.provisioning_reboot,
            retry_interval=settings.provisioning_retry_interval,
        )
        security = SecurityEventLog(uow, events=events)
        return cls(
            uow=uow,
            stations=StationService(
                uow,
                heartbeat_interval=settings.heartbeat_interval,
                key_hash_cost=settings.key_hash_cost,
                events=events,
            ),
            tags=TagService(uow),
            authorization=AuthorizationService(uow),
            transactions=TransactionService(uow, events=events),
            metering=MeteringService(uow, events=events),
            api_keys=ApiKeyService(uow, security=security),
            fleet=FleetView(uow),
            commands=commands,
            firmware=FirmwareService(
                uow,
                commands,
                settings.data_dir / "firmware",
                events=events,
                max_file_bytes=settings.firmware_max_bytes,
            ),
            diagnostics=DiagnosticsService(
                uow,
                commands,
                settings.data_dir / "diagnostics",
                events=events,
                max_upload_bytes=settings.diagnostics_max_bytes,
            ),
            events=events,
            provisioning=ProvisioningService(uow, commands, policy, events=events),
            reservations=ReservationService(uow, commands, events=events),
            local_lists=LocalListService(uow, commands),
            webhooks=WebhookService(uow, events, HttpxSender()),
            smart_charging=SmartChargingService(
                uow,
                _enforcer(uow, commands, settings, clock, events),
                options=smart_charging_options(settings),
                clock=clock,
                events=events,
            ),
            operators=OperatorService(uow, security=security, hash_cost=settings.key_hash_cost),
            security=security,
        )

    async def close(self) -> None:
        await self.security.flush()
        await self.smart_charging.close()
        await self.webhooks.stop()
        await self.provisioning.close()
        await self.uow.close()


def _enforcer(
    uow: SqlUnitOfWork,
    commands: CommandService,
    settings: Settings,
    clock: Clock,
    events: EventBus,
) -> ProfileApplier:
    return ProfileEnforcer(
        uow,
        commands,
        clock=clock,
        events=events,
        verify_timeout=settings.smart_charging_verify_timeout,
    )


def smart_charging_options(settings: Settings) -> SmartChargingOptions:
    return SmartChargingOptions(
        defaults=LiveDefaults(
            need_kwh=settings.smart_charging_default_need_kwh,
            dwell_hours=settings.smart_charging_default_dwell_hours,
            power_kw=settings.smart_charging_default_power_kw,
        ),
        offline_limit_kw=settings.smart_charging_offline_limit_kw,
        interval=settings.smart_charging_interval,
        drift=settings.smart_charging_drift,
        ready_timeout=settings.smart_charging_verify_timeout,
    )


class CentralSystem:
    """A running central system node. ``await start()``, then ``await stop()``."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = utc_now if clock is None else clock
        """Time for smart charging (plans, the enforcer): tests run it fast."""
        self.registry = SessionRegistry()
        self.message_log = MessageLog()
        """This node's last frames of each station (the dashboard's station page)."""
        self.ca_file: Path | None = None
        self._services: Services | None = None
        self._server: Server | None = None
        self._api: ApiServer | None = None
        self._delivery: CommandDelivery | None = None
        self.events = EventBus()
        self.metrics = Metrics(stations_connected=lambda: len(self.registry))
        self._background: list[asyncio.Task[None]] = []
        """Node-wide tasks (metrics, webhook dispatcher), cancelled by stop()."""
        self._api_stopping = asyncio.Event()
        """Set by stop(): ends the API's event streams (``ApiContext.stopping``)."""
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

    @property
    def api_port(self) -> int:
        assert self._api is not None, "start() first"
        return self._api.port

    @property
    def api_url(self) -> str:
        """The API's base URL (without ``/api/v1``)."""
        scheme = "http" if self.settings.insecure_plain_ws else "https"
        host = self.settings.api_host
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        shown = f"[{shown}]" if ":" in shown else shown
        return f"{scheme}://{shown}:{self.api_port}"

    async def start(self) -> None:
        settings = self.settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self._services = await Services.open(
            settings,
            self.events,
            RegistryLink(self.registry),
            self.clock,
        )
        self._delivery = CommandDelivery(
            self.services.commands, sweep_interval=settings.command_sweep_interval
        )
        await self._delivery.start()
        self._background.append(self.metrics.start(self.events))
        await self.services.webhooks.start()
        if settings.smart_charging:
            self.services.smart_charging.start()
        UplinkHandlers(
            self.services.stations,
            self.services.authorization,
            self.services.transactions,
            self.services.metering,
            data_transfer_status=settings.data_transfer_status,
            firmware=self.services.firmware,
            diagnostics=self.services.diagnostics,
            on_transaction_started=self.services.reservations.transaction_started,
        ).register(self._router)
        self._background.append(
            asyncio.create_task(
                self.services.reservations.sweep_forever(settings.reservation_sweep_interval),
                name="reservation-expiry-sweep",
            )
        )
        authenticator = StationAuthenticator(
            self._key_hash,
            LoginThrottle(time.monotonic, threshold=settings.auth_failure_threshold),
            cost=settings.key_hash_cost,
            on_failure=self._station_login_failed,
        )
        ssl_context = None if settings.insecure_plain_ws else self._ssl_context()
        self._server = await serve_stations(
            ListenerConfig(
                host=settings.ocpp_host,
                port=settings.ocpp_port,
                ssl_context=ssl_context,
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
        try:
            await self._start_api(ssl_context)
        except BaseException:
            await self.stop()
            raise

    async def _start_api(self, ssl_context: ssl.SSLContext | None) -> None:
        """The operator API on its own port, with the stations' TLS policy and
        certificates (plain HTTP only with ``insecure_plain_ws``)."""
        settings = self.settings
        self._api = ApiServer(settings.api_host, settings.api_port, ssl_context)
        self._api.bind()
        context = ApiContext(
            settings=settings,
            services=self.services,
            registry=self.registry,
            events=self.events,
            metrics=self.metrics,
            public_base_url=(settings.public_url or self.api_url).rstrip("/"),
            stopping=self._api_stopping,
            message_log=self.message_log,
        )
        await self._api.start(create_app(context))
        if settings.insecure_plain_ws:
            log.warning("operator API without TLS (insecure_plain_ws): development only")
        log.info("operator API listening", url=self.api_url, docs=f"{self.api_url}/docs")

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

    def _station_login_failed(self, station_id: str, remote: str | None, reason: str) -> None:
        self.services.security.record_soon("station.login_failed", station_id, remote, reason)

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
            on_first_reply=self._station_ready,
            on_frame=self.metrics.on_frame,
            on_text=partial(self.message_log.record, station_id),
        )
        self.registry.attach(session)
        log.info("station connected", station=station_id)
        self.events.publish("station.connected", station_id, {})
        try:
            await session.run()
        finally:
            if self.registry.detach(session):  # not when a newer connection replaced it
                self.events.publish("station.disconnected", station_id, {})
            log.info("station disconnected", station=station_id)

    def _station_ready(self, session: OcppSession, action: str, result: Payload) -> None:
        """The station's first message of a connection is answered: deliver its
        queued commands, then provision it (both in the background)."""
        if self._delivery is not None:
            self._delivery.on_first_reply(session, action, result)
        if action == "BootNotification" and result.get("status") == "Rejected":
            return
        self.services.provisioning.start(session.identity)
        if self.settings.smart_charging:
            # after provisioning's GetConfiguration when it comes (the enforcer
            # builds profiles from the capabilities it stores): see station_ready
            self.services.smart_charging.station_ready(session.identity)

    async def stop(self) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background.clear()
        if self._api is not None:
            self._api_stopping.set()
            await self._api.stop()
            self._api = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._delivery is not None:
            await self._delivery.stop()
            self._delivery = None
        if self._services is not None:
            await self._services.close()
            self._services = None

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()
