"""One OCPP-J session over one WebSocket, used by both ends of the link.

Why our own loop rather than ``ocpp.ChargePoint.start()``: there a handler runs
inside the receive loop, so a handler that calls the peer waits for a reply
the loop can never read. Here a reader task only reads and dispatches; the
peer's CALLs are served in arrival order by a separate worker task, so a
handler may ``await session.call(...)`` on the same connection.

Rules enforced (OCPP-J 1.6 sections 4.1.1 and 4):
- at most one outstanding CALL of ours; further ``call()``s queue behind it,
  while the peer's CALLs may cross ours;
- a reply that arrives after ``response_timeout`` is dropped, never handed to
  the next call (each call has its own message id and the pending slot is
  cleared on timeout);
- a repeated incoming message id (a station retrying after a lost reply) is
  not executed twice: the recorded reply is sent again;
- unknown MessageTypeId: logged and ignored; invalid JSON or a non-array
  frame: logged, connection kept; a CALL whose id can be read but whose shape
  is wrong gets a FormationViolation;
- unknown action -> NotImplemented; known 1.6 action we do not serve ->
  NotSupported; schema violations -> the 1.6 error code (see validation.py),
  or, for a station in lenient mode, a log line and the payload accepted;
- a handler's unexpected exception -> InternalError, without internals.

``on_first_reply`` tells the owner when the peer's first CALL of the
connection has been answered (see :data:`FirstReply`).

After-reply steps (``Router.on(..., after_reply=...)``) and other background
work of a session are cancelled when its connection ends: work that must
outlive the link (a reboot, say) belongs to the caller, not the session.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

import structlog
from websockets.exceptions import ConnectionClosed

from opencsms.ocpp import frames, validation
from opencsms.ocpp.errors import (
    CallErrorReceived,
    FormationViolationError,
    InternalError,
    NotImplementedError,
    NotSupportedError,
    OCPPError,
)
from opencsms.ocpp.frames import Call, CallError, CallResult
from opencsms.ocpp.router import Payload, Router

log = structlog.get_logger("opencsms.ocpp")

RECENT_IDS = 32
"""How many incoming message ids are remembered for duplicate detection."""

FrameObserver = Callable[[str, str, str], None]
"""``on_frame(direction, kind, action)``: ``direction`` is ``"received"`` or
``"sent"``, ``kind`` is ``"call"``, ``"result"`` or ``"error"``, and a reply
carries the action of the CALL it answers. Called synchronously for every
CALL and every reply to one (metrics count with it); it must be cheap and
must not raise."""

TextObserver = Callable[[str, str | bytes], None]
"""``on_text(direction, text)``: every frame as it went over the wire (received
as read, before decoding; sent as encoded), for a recent-messages view. Called
synchronously; it must be cheap (keep the text, parse it later) and must not
raise."""


class Transport(Protocol):
    """What a session needs of a WebSocket; websockets' connections fit as is.
    ``recv`` raises ``websockets.exceptions.ConnectionClosed`` at the end."""

    async def recv(self) -> str | bytes: ...
    async def send(self, message: str) -> None: ...
    async def close(self, code: int = 1000, reason: str = "") -> None: ...


FirstReply = Callable[["OcppSession", str, Payload], None]
"""``on_first_reply(session, action, result)``: called once per session, for
the peer's first CALL we answered with a CALLRESULT, once that reply is on
the wire: the moment the peer is known to talk to us (e.g. to deliver what
waited for it). Synchronous: work that must outlive the connection is the
callee's to schedule."""


class SessionClosed(ConnectionError):
    """The connection ended before the call could complete."""


class CallTimeout(TimeoutError):
    """The peer did not answer our CALL within the response timeout."""


class OcppSession:
    def __init__(
        self,
        identity: str,
        transport: Transport,
        router: Router,
        *,
        response_timeout: float = 30.0,
        validate: bool = True,
        lenient: bool = False,
        message_id: Callable[[], str] = frames.new_message_id,
        on_frame: FrameObserver | None = None,
        on_text: TextObserver | None = None,
        on_first_reply: FirstReply | None = None,
    ) -> None:
        self.identity = identity
        self._on_first_reply = on_first_reply
        self.transport = transport
        self._router = router
        self._response_timeout = response_timeout
        self._validate = validate
        self.lenient = lenient
        self._new_message_id = message_id
        self._on_frame = on_frame
        self._on_text = on_text
        self._incoming: asyncio.Queue[Call] = asyncio.Queue()
        self._recent: OrderedDict[str, str | None] = OrderedDict()
        self._call_lock = asyncio.Lock()
        self._pending_id: str | None = None
        self._pending: asyncio.Future[CallResult | CallError] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._closed = asyncio.Event()
        self.log = log.bind(station=identity)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def run(self) -> None:
        """Read frames until the connection ends. Returns normally on close."""
        worker = asyncio.create_task(self._serve_calls(), name=f"ocpp-calls-{self.identity}")
        try:
            while True:
                try:
                    raw = await self.transport.recv()
                except ConnectionClosed:
                    return
                self._dispatch(raw)
        finally:
            self._closed.set()
            worker.cancel()
            if self._pending is not None and not self._pending.done():
                self._pending.set_exception(SessionClosed(self.identity))
            for task in list(self._background):
                task.cancel()
            await asyncio.gather(worker, *self._background, return_exceptions=True)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.transport.close(code, reason)

    async def call(
        self,
        action: str,
        payload: Payload,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> Payload:
        """Send a CALL and return the CALLRESULT payload.

        Raises :class:`CallErrorReceived`, :class:`CallTimeout`,
        :class:`SessionClosed`, or the :class:`OCPPError` for a reply that
        breaks the response schema (unless the session is lenient).
        """
        async with self._call_lock:
            if self.closed:
                raise SessionClosed(self.identity)
            message_id = self._new_message_id()
            future: asyncio.Future[CallResult | CallError] = (
                asyncio.get_running_loop().create_future()
            )
            self._pending_id, self._pending = message_id, future
            try:
                text = Call(message_id, action, payload).encode()
                try:
                    await self.transport.send(text)
                except ConnectionClosed:
                    raise SessionClosed(self.identity) from None
                if self._on_text is not None:
                    self._on_text("sent", text)
                if self._on_frame is not None:
                    self._on_frame("sent", "call", action)
                try:
                    wait = self._response_timeout if timeout is None else timeout
                    reply = await asyncio.wait_for(future, wait)
                except TimeoutError:
                    raise CallTimeout(f"{action} to {self.identity}: no reply") from None
            finally:
                self._pending_id, self._pending = None, None
                if future.done() and not future.cancelled():
                    # run() fails the pending call when the socket ends; if that
                    # happened while we were still sending, nobody awaits it
                    # ("Future exception was never retrieved" at shutdown)
                    future.exception()
        if self._on_frame is not None:
            self._on_frame(
                "received", "error" if isinstance(reply, CallError) else "result", action
            )
        if isinstance(reply, CallError):
            details = reply.details or {}
            raise CallErrorReceived(action, reply.error_code, reply.description, details)
        if self._validate:
            try:
                validation.validate_response(action, reply.payload)
            except OCPPError as exc:
                if not self.lenient:
                    raise
                self.log.warning(
                    "lenient: invalid response accepted", action=action, error=str(exc)
                )
        return reply.payload

    # -- receiving ---------------------------------------------------------

    def _dispatch(self, raw: str | bytes) -> None:
        if self._on_text is not None:
            self._on_text("received", raw)
        try:
            frame = frames.decode(raw)
        except frames.UnknownMessageType as exc:
            self.log.warning("ignored frame", reason=str(exc))
            return
        except frames.FrameError as exc:
            self.log.warning("malformed frame", reason=str(exc))
            if exc.unique_id is not None:
                self._send_soon(CallError(exc.unique_id, FormationViolationError.code, str(exc)))
            return
        if isinstance(frame, Call):
            if self._on_frame is not None:
                self._on_frame("received", "call", frame.action)
            self._accept_call(frame)
        elif frame.unique_id == self._pending_id and self._pending and not self._pending.done():
            self._pending.set_result(frame)
        else:
            self.log.info("reply to no pending call dropped", message_id=frame.unique_id)

    def _accept_call(self, call: Call) -> None:
        if call.unique_id in self._recent:
            reply = self._recent[call.unique_id]
            self.log.info("duplicate message id not executed again", message_id=call.unique_id)
            if reply is not None:
                self._send_soon_text(reply)
            return
        self._recent[call.unique_id] = None
        if len(self._recent) > RECENT_IDS:
            self._recent.popitem(last=False)
        self._incoming.put_nowait(call)

    async def _serve_calls(self) -> None:
        while True:
            call = await self._incoming.get()
            reply, after = await self._handle(call)
            text = reply.encode()
            if call.unique_id in self._recent:
                self._recent[call.unique_id] = text
            try:
                await self.transport.send(text)
            except ConnectionClosed:
                return
            if self._on_text is not None:
                self._on_text("sent", text)
            if self._on_frame is not None:
                kind = "error" if isinstance(reply, CallError) else "result"
                self._on_frame("sent", kind, call.action)
            if self._on_first_reply is not None and isinstance(reply, CallResult):
                first, self._on_first_reply = self._on_first_reply, None
                first(self, call.action, reply.payload)
            if after is not None:
                self._spawn(after)

    async def _handle(self, call: Call) -> tuple[CallResult | CallError, Any]:
        route = self._router.route(call.action)
        if route is None:
            error: OCPPError
            if validation.known_action(call.action):
                error = NotSupportedError(f"{call.action} is not supported")
            else:
                error = NotImplementedError(f"unknown action {call.action!r}")
            return _error_reply(call.unique_id, error), None
        if self._validate:
            try:
                validation.validate_request(call.action, call.payload)
            except OCPPError as exc:
                if not self.lenient:
                    self.log.info("invalid payload", action=call.action, error=exc.description)
                    return _error_reply(call.unique_id, exc), None
                self.log.warning(
                    "lenient: invalid payload accepted", action=call.action, error=exc.description
                )
        try:
            result = await route.handler(self, call.payload)
        except OCPPError as exc:
            return _error_reply(call.unique_id, exc), None
        except Exception:
            self.log.exception("handler failed", action=call.action)
            return _error_reply(call.unique_id, InternalError("internal error")), None
        after = None
        if route.after_reply is not None:
            after = route.after_reply(self, call.payload, result)
        return CallResult(call.unique_id, result), after

    # -- background --------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(self._guard(coro))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _guard(self, coro: Any) -> None:
        try:
            await coro
        except (SessionClosed, ConnectionClosed, asyncio.CancelledError):
            pass
        except Exception:
            self.log.exception("background step failed")

    def _send_soon(self, frame: CallError) -> None:
        self._send_soon_text(frame.encode())

    def _send_soon_text(self, text: str) -> None:
        if self._on_text is not None:
            self._on_text("sent", text)
        self._spawn(self.transport.send(text))


def _error_reply(unique_id: str, error: OCPPError) -> CallError:
    return CallError(unique_id, error.code, error.description or "", error.details or None)
