"""Transport and Security Profile 2 against the real listener over real TLS."""

from __future__ import annotations

import asyncio
import ssl
import time
import warnings

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from opencsms.app import CentralSystem
from opencsms.security.keys import parse_key
from opencsms.security.tls import ELB_TLS_1_2_EXT_2018_06_CIPHERS
from opencsms.stations.registry import REPLACED
from opencsms.testing import basic_authorization

from .conftest import CentralFactory
from .stations import open_socket, reply_to

HEARTBEAT = '[2, "hb", "Heartbeat", {}]'


async def heartbeat_works(ws: ClientConnection) -> bool:
    await ws.send(HEARTBEAT)
    return (await reply_to(ws, "hb"))[0] == 3


async def refusal(central: CentralSystem, station_id: str, password: object, **kw: object):  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidStatus) as caught:
        await open_socket(central, station_id, password, **kw)  # type: ignore[arg-type]
    return caught.value.response


async def test_wss_with_right_key_connects_and_selects_ocpp16(central: CentralSystem) -> None:
    key = await central.services.stations.register("CP1")
    async with await open_socket(central, "CP1", key) as ws:
        assert ws.subprotocol == "ocpp1.6"
        assert await heartbeat_works(ws)


async def test_key_accepted_as_hex_and_as_raw_octets(central: CentralSystem) -> None:
    key = await central.services.stations.register("CP1")
    for password in (key, parse_key(key)):
        async with await open_socket(central, "CP1", password) as ws:
            assert await heartbeat_works(ws)


async def test_all_authentication_failures_get_the_same_401(central: CentralSystem) -> None:
    key = await central.services.stations.register("CP1")
    await central.services.stations.register("CP2")
    responses = [
        await refusal(central, "CP1", None),  # no Authorization header
        await refusal(central, "CP1", "0" * 40),  # wrong password
        await refusal(central, "GHOST", key),  # unknown id
        await refusal(central, "CP2", key, username="CP1"),  # username != id in the URL
    ]
    shapes = {
        (
            r.status_code,
            bytes(r.body),
            tuple((k, v) for k, v in r.headers.raw_items() if k != "Date"),
        )
        for r in responses
    }
    assert len(shapes) == 1
    status, body, headers = shapes.pop()
    assert status == 401 and key.encode() not in body
    assert ("WWW-Authenticate", 'Basic realm="OCPP", charset="UTF-8"') in headers


async def test_subprotocol_must_be_offered(central: CentralSystem) -> None:
    key = await central.services.stations.register("CP1")
    assert (await refusal(central, "CP1", key, subprotocols=[])).status_code == 400
    assert (await refusal(central, "CP1", key, subprotocols=["ocpp2.0.1"])).status_code == 400
    async with await open_socket(central, "CP1", key, subprotocols=["ocpp2.0.1", "ocpp1.6"]) as ws:
        assert ws.subprotocol == "ocpp1.6"


async def test_plain_ws_is_refused_without_the_dev_flag(central: CentralSystem) -> None:
    key = await central.services.stations.register("CP1")
    url = f"ws://127.0.0.1:{central.ocpp_port}/ocpp/CP1"
    with pytest.raises((ConnectionClosed, OSError, asyncio.TimeoutError, Exception)) as caught:
        await connect(
            url,
            subprotocols=["ocpp1.6"],
            additional_headers={  # type: ignore[list-item]
                "Authorization": basic_authorization("CP1", key)
            },
            open_timeout=3,
        )
    assert not isinstance(caught.value, InvalidStatus)  # no HTTP was ever spoken in clear


async def test_plain_ws_only_with_the_development_flag(start_central: CentralFactory) -> None:
    central = await start_central(insecure_plain_ws=True)
    key = await central.services.stations.register("CP1")
    assert central.ocpp_url.startswith("ws://")
    async with connect(
        f"{central.ocpp_url}/CP1",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        additional_headers={"Authorization": basic_authorization("CP1", key)},
    ) as ws:
        assert await heartbeat_works(ws)


async def tls_handshake(central: CentralSystem, context: ssl.SSLContext) -> ssl.SSLObject:
    _reader, writer = await asyncio.open_connection(
        "127.0.0.1", central.ocpp_port, ssl=context, server_hostname="localhost"
    )
    try:
        return writer.get_extra_info("ssl_object")  # type: ignore[no-any-return]
    finally:
        writer.close()
        await writer.wait_closed()


def client_context(central: CentralSystem, version: ssl.TLSVersion) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(central.ca_file))
    with warnings.catch_warnings():  # TLS 1.0/1.1 are deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = version
    return context


@pytest.mark.parametrize("suite", ELB_TLS_1_2_EXT_2018_06_CIPHERS)
async def test_every_policy_suite_negotiates_on_the_listener(
    central: CentralSystem, suite: str
) -> None:
    context = client_context(central, ssl.TLSVersion.TLSv1_2)
    context.set_ciphers(f"{suite}:@SECLEVEL=0")
    tls = await tls_handshake(central, context)
    assert tls.cipher()[0] == suite and tls.version() == "TLSv1.2"  # type: ignore[index]


@pytest.mark.parametrize(
    "version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_3]
)
async def test_other_tls_versions_are_refused(
    central: CentralSystem, version: ssl.TLSVersion
) -> None:
    context = client_context(central, version)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # so the client really offers old versions
    # the server answers with an alert or drops the handshake; either way no session
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        await tls_handshake(central, context)
    # control: the same client setup at TLS 1.2 gets in
    assert await tls_handshake(central, client_context(central, ssl.TLSVersion.TLSv1_2))


async def test_tls13_is_an_opt_in(start_central: CentralFactory) -> None:
    central = await start_central(tls_enable_1_3=True)
    tls = await tls_handshake(central, client_context(central, ssl.TLSVersion.TLSv1_3))
    assert tls.version() == "TLSv1.3"


async def test_repeated_failures_are_throttled_but_the_right_key_gets_in(
    central: CentralSystem,
) -> None:
    key = await central.services.stations.register("CP1")
    for _ in range(central.settings.auth_failure_threshold):
        await refusal(central, "CP1", "f" * 40)
    started = time.monotonic()
    await refusal(central, "CP1", "f" * 40)
    assert time.monotonic() - started >= 0.9  # this failure was held back by the penalty
    async with await open_socket(central, "CP1", key) as ws:
        assert await heartbeat_works(ws)


async def test_second_connection_replaces_the_first(central: CentralSystem) -> None:
    key = await central.services.stations.register("CP1")
    first = await open_socket(central, "CP1", key)
    assert await heartbeat_works(first)
    async with await open_socket(central, "CP1", key) as second:
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(5):
                while True:  # the server's own CALLs may come first
                    await first.recv()
        assert first.close_code == REPLACED
        await asyncio.sleep(0.1)  # let the old session's cleanup run
        assert central.registry.get("CP1") is not None
        assert await heartbeat_works(second)
        # an unauthenticated attempt does not disturb the live session
        await refusal(central, "CP1", "0" * 40)
        assert await heartbeat_works(second)
        assert len(central.registry) == 1


async def test_oversized_frame_closes_1009_and_server_carries_on(central: CentralSystem) -> None:
    key = await central.services.stations.register("CP1")
    async with await open_socket(central, "CP1", key, max_size=None) as ws:
        padding = "x" * (1024 * 1024 + 10)
        await ws.send(f'[2, "big", "DataTransfer", {{"vendorId": "v", "data": "{padding}"}}]')
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1009
    async with await open_socket(central, "CP1", key) as ws:
        assert await heartbeat_works(ws)


async def test_half_open_socket_is_reaped_by_ping_timeout(start_central: CentralFactory) -> None:
    central = await start_central(ping_interval=0.2, ping_timeout=0.3)
    key = await central.services.stations.register("CP1")
    ws = await open_socket(central, "CP1", key, ping_interval=None)
    assert await heartbeat_works(ws)
    assert len(central.registry) == 1
    ws.transport.pause_reading()  # the station vanishes: it no longer answers pings
    for _ in range(300):  # reaped within about 1 s; generous for a loaded CI machine
        if len(central.registry) == 0:
            break
        await asyncio.sleep(0.05)
    assert len(central.registry) == 0
    ws.transport.abort()


async def test_reconnect_is_not_held_up_by_a_half_open_predecessor(
    start_central: CentralFactory,
) -> None:
    central = await start_central(ping_interval=3600.0, ping_timeout=60.0)
    key = await central.services.stations.register("CP1")
    stale = await open_socket(central, "CP1", key, ping_interval=None)
    assert await heartbeat_works(stale)
    stale.transport.pause_reading()  # will never answer the close frame
    async with await open_socket(central, "CP1", key) as fresh:
        # answered at once, not after the 60 s the stale socket's close may take
        await fresh.send(HEARTBEAT)
        assert (await reply_to(fresh, "hb", within=20))[0] == 3
    stale.transport.abort()
