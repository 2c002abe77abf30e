"""The OCPP-J session over a real WebSocket on 127.0.0.1.

The server side runs an OcppSession; the client side is either a raw socket
(to send exactly the frames under test) or a second OcppSession.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosedError

from opencsms.ocpp.errors import CallErrorReceived
from opencsms.ocpp.router import Router
from opencsms.ocpp.session import CallTimeout, OcppSession, SessionClosed

HEARTBEAT_REPLY = {"currentTime": "2026-01-01T00:00:00Z"}


class Harness:
    def __init__(self, router: Router, **session_options: Any) -> None:
        self.router = router
        self.options = session_options
        self.sessions: list[OcppSession] = []
        self.executed: list[tuple[str, dict[str, Any]]] = []
        self.url = ""

    async def handler(self, connection: ServerConnection) -> None:
        session = OcppSession("CP1", connection, self.router, **self.options)
        self.sessions.append(session)
        await session.run()


@pytest.fixture
def router() -> Router:
    return Router()


async def start(harness: Harness) -> tuple[Any, str]:
    server = await serve(harness.handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"ws://127.0.0.1:{port}"


@pytest.fixture
async def harness(router: Router) -> AsyncIterator[Harness]:
    async def heartbeat(session: OcppSession, payload: dict[str, Any]) -> dict[str, Any]:
        harness.executed.append(("Heartbeat", payload))
        return HEARTBEAT_REPLY

    router.on("Heartbeat", heartbeat)
    harness = Harness(router, response_timeout=0.5)
    server, harness.url = await start(harness)
    yield harness
    server.close()
    await server.wait_closed()


async def exchange(ws: ClientConnection, frame: Any) -> Any:
    await ws.send(frame if isinstance(frame, str) else orjson.dumps(frame).decode())
    return orjson.loads(await asyncio.wait_for(ws.recv(), 2))


async def test_call_is_answered_with_call_result(harness: Harness) -> None:
    async with connect(harness.url) as ws:
        assert await exchange(ws, [2, "m1", "Heartbeat", {}]) == [3, "m1", HEARTBEAT_REPLY]


async def test_unknown_and_unsupported_actions(harness: Harness) -> None:
    async with connect(harness.url) as ws:
        unknown = await exchange(ws, [2, "m1", "MakeCoffee", {}])
        assert unknown[:3] == [4, "m1", "NotImplemented"]
        unsupported = await exchange(ws, [2, "m2", "Authorize", {"idTag": "A"}])
        assert unsupported[:3] == [4, "m2", "NotSupported"]


async def test_schema_violation_is_a_call_error_and_handler_not_run(harness: Harness) -> None:
    async with connect(harness.url) as ws:
        reply = await exchange(ws, [2, "m1", "Heartbeat", {"unexpected": 1}])
        assert reply[:3] == [4, "m1", "FormationViolation"]
    assert harness.executed == []


async def test_lenient_session_accepts_schema_violations(router: Router) -> None:
    executed = []

    async def heartbeat(session: OcppSession, payload: dict[str, Any]) -> dict[str, Any]:
        executed.append(payload)
        return HEARTBEAT_REPLY

    router.on("Heartbeat", heartbeat)
    harness = Harness(router, lenient=True)
    server, url = await start(harness)
    try:
        async with connect(url) as ws:
            reply = await exchange(ws, [2, "m1", "Heartbeat", {"unexpected": 1}])
        assert reply == [3, "m1", HEARTBEAT_REPLY]
        assert executed == [{"unexpected": 1}]
    finally:
        server.close()
        await server.wait_closed()


async def test_garbage_is_ignored_and_connection_kept(harness: Harness) -> None:
    async with connect(harness.url) as ws:
        await ws.send("this is not json")
        await ws.send('{"an": "object"}')
        await ws.send('[9, "m0", "Heartbeat", {}]')  # unknown MessageTypeId
        assert await exchange(ws, [2, "m1", "Heartbeat", {}]) == [3, "m1", HEARTBEAT_REPLY]


async def test_call_with_non_object_payload_gets_formation_violation(harness: Harness) -> None:
    async with connect(harness.url) as ws:
        reply = await exchange(ws, '[2, "m1", "Heartbeat", []]')
        assert reply[:3] == [4, "m1", "FormationViolation"]


async def test_repeated_message_id_is_not_executed_twice(harness: Harness) -> None:
    async with connect(harness.url) as ws:
        first = await exchange(ws, [2, "same", "Heartbeat", {}])
        second = await exchange(ws, [2, "same", "Heartbeat", {}])
    assert first == second == [3, "same", HEARTBEAT_REPLY]
    assert len(harness.executed) == 1


async def test_handler_exception_becomes_internal_error_without_details(router: Router) -> None:
    async def broken(session: OcppSession, payload: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("database password is hunter2")

    router.on("Heartbeat", broken)
    harness = Harness(router)
    server, url = await start(harness)
    try:
        async with connect(url) as ws:
            reply = await exchange(ws, [2, "m1", "Heartbeat", {}])
        assert reply[:3] == [4, "m1", "InternalError"]
        assert "hunter2" not in orjson.dumps(reply).decode()
    finally:
        server.close()
        await server.wait_closed()


async def test_late_reply_is_dropped_and_never_answers_the_next_call(harness: Harness) -> None:
    async with connect(harness.url) as ws:
        await exchange(ws, [2, "hello", "Heartbeat", {}])
        session = harness.sessions[0]
        first = asyncio.create_task(session.call("ClearCache", {}, timeout=0.2))
        stale = orjson.loads(await ws.recv())
        with pytest.raises(CallTimeout):
            await first
        second = asyncio.create_task(session.call("ClearCache", {}))
        fresh = orjson.loads(await ws.recv())
        await ws.send(orjson.dumps([3, stale[1], {"status": "Rejected"}]).decode())  # too late
        await asyncio.sleep(0.05)
        assert not second.done()
        await ws.send(orjson.dumps([3, fresh[1], {"status": "Accepted"}]).decode())
        assert await second == {"status": "Accepted"}


async def test_only_one_outstanding_call_and_peer_calls_may_cross(harness: Harness) -> None:
    async with connect(harness.url) as ws:
        await exchange(ws, [2, "hello", "Heartbeat", {}])
        session = harness.sessions[0]
        first = asyncio.create_task(session.call("ClearCache", {}))
        second = asyncio.create_task(session.call("ClearCache", {}))
        sent_first = orjson.loads(await ws.recv())
        with pytest.raises(TimeoutError):  # the second CALL waits for the first's reply
            await asyncio.wait_for(ws.recv(), 0.2)
        # the station's own CALL crosses ours and is answered meanwhile
        assert await exchange(ws, [2, "cross", "Heartbeat", {}]) == [3, "cross", HEARTBEAT_REPLY]
        await ws.send(orjson.dumps([3, sent_first[1], {"status": "Accepted"}]).decode())
        sent_second = orjson.loads(await ws.recv())
        assert sent_second[1] != sent_first[1]
        await ws.send(orjson.dumps([4, sent_second[1], "NotSupported", "no", {}]).decode())
        assert await first == {"status": "Accepted"}
        with pytest.raises(CallErrorReceived) as caught:
            await second
        assert caught.value.code == "NotSupported"


async def test_handler_may_call_the_station_without_deadlock(router: Router) -> None:
    """Two real sessions: the server's Heartbeat handler asks the station for its
    configuration before answering."""

    async def heartbeat(session: OcppSession, payload: dict[str, Any]) -> dict[str, Any]:
        config = await session.call("GetConfiguration", {"key": ["HeartbeatInterval"]})
        assert config["configurationKey"][0]["value"] == "60"
        return HEARTBEAT_REPLY

    router.on("Heartbeat", heartbeat)
    harness = Harness(router)
    server, url = await start(harness)

    station_router = Router()

    async def get_configuration(session: OcppSession, payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "60"}]
        }

    station_router.on("GetConfiguration", get_configuration)
    try:
        async with connect(url) as ws:
            station = OcppSession("csms", ws, station_router)
            runner = asyncio.create_task(station.run())
            assert await asyncio.wait_for(station.call("Heartbeat", {}), 2) == HEARTBEAT_REPLY
            await ws.close()
            await runner
    finally:
        server.close()
        await server.wait_closed()


async def test_invalid_response_schema_raises_unless_lenient(harness: Harness) -> None:
    async with connect(harness.url) as ws:
        await exchange(ws, [2, "hello", "Heartbeat", {}])
        session = harness.sessions[0]
        call = asyncio.create_task(session.call("ClearCache", {}))
        sent = orjson.loads(await ws.recv())
        await ws.send(orjson.dumps([3, sent[1], {"status": "Maybe"}]).decode())
        with pytest.raises(Exception) as caught:
            await call
        assert getattr(caught.value, "code", None) == "PropertyConstraintViolation"


class _SendStalls:
    """A transport whose send waits, then finds the socket gone; recv ends on demand."""

    def __init__(self) -> None:
        self.sending = asyncio.Event()
        self.end_send = asyncio.Event()
        self.end_recv = asyncio.Event()

    async def recv(self) -> str:
        await self.end_recv.wait()
        raise ConnectionClosedError(None, None)

    async def send(self, text: str) -> None:
        self.sending.set()
        await self.end_send.wait()
        raise ConnectionClosedError(None, None)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.end_recv.set()


async def test_a_call_cut_off_mid_send_leaves_no_unretrieved_exception(router: Router) -> None:
    """The socket ends while a command is being sent: run() fails the pending
    call, send() then fails too; the caller gets SessionClosed and the failed
    future is not left for the garbage collector to complain about."""
    loop = asyncio.get_running_loop()
    complaints: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: complaints.append(context))
    try:
        transport = _SendStalls()
        session = OcppSession("CP1", transport, router)  # type: ignore[arg-type]
        running = asyncio.create_task(session.run())
        calling = asyncio.create_task(session.call("Reset", {"type": "Soft"}))
        await transport.sending.wait()
        transport.end_recv.set()
        await running
        transport.end_send.set()
        with pytest.raises(SessionClosed):
            await calling
        del calling, running, session
        gc.collect()
        await asyncio.sleep(0)
        assert complaints == []
    finally:
        loop.set_exception_handler(None)
