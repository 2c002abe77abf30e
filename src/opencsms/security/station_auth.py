"""Authenticate a station's WebSocket upgrade (OCPP 1.6 Security Profile 2).

The listener calls :meth:`StationAuthenticator.authenticate` from its
``process_request`` hook and answers 401 on ``False``. Decisions here:

* scrypt runs in a worker thread (``asyncio.to_thread``) so the event loop
  keeps serving other stations, bounded by a semaphore so a flood of bad
  logins cannot occupy every core;
* an unknown id still costs one (dummy) scrypt run, so response time does not
  reveal which ids exist;
* a failure sleeps the throttle's penalty before answering; a success never
  waits on the throttle (see :mod:`opencsms.security.throttle`);
* after a success we remember a keyed BLAKE2 digest of the accepted key per
  station, tagged with the stored hash it was checked against. A reconnect
  storm (every station of a site after a network blip) then costs a hash
  lookup per station, not a scrypt run, while a key changed in the database
  (new stored hash) misses the cache. The BLAKE2 key is random per process, so
  the cache is worthless outside this process's memory.

The password never appears in a log line or exception; log lines carry the
station id, the remote address and a reason. ``on_failure`` receives the same
three (the composition root records them as security events); it must not
block, and this module stays free of storage.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import structlog

from opencsms.security.basic_auth import parse_basic_authorization
from opencsms.security.keys import dummy_verify, key_octets, verify_key
from opencsms.security.throttle import LoginThrottle

__all__ = ["StationAuthenticator"]

log = structlog.get_logger("opencsms.security.auth")


class StationAuthenticator:
    """Checks Basic Auth credentials of a connecting station against its stored key hash."""

    def __init__(
        self,
        lookup_hash: Callable[[str], Awaitable[str | None]],
        throttle: LoginThrottle,
        *,
        cost: int,
        max_parallel_hashes: int = 2,
        max_cached: int = 100_000,
        verify: Callable[[str, bytes], bool] = verify_key,
        dummy: Callable[[int], None] = dummy_verify,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_failure: Callable[[str, str | None, str], None] | None = None,
    ) -> None:
        """``cost`` is the scrypt cost of the dummy run for unknown ids (match new hashes).

        ``verify``, ``dummy`` and ``sleep`` are injectable so tests can count
        scrypt runs and observe penalties without waiting for them.
        """
        if max_parallel_hashes < 1:
            raise ValueError("max_parallel_hashes must be at least 1")
        self._lookup_hash = lookup_hash
        self._throttle = throttle
        self._cost = cost
        self._verify = verify
        self._dummy = dummy
        self._sleep = sleep
        self._on_failure = on_failure
        self._hash_slots = asyncio.Semaphore(max_parallel_hashes)
        self._cache_key = secrets.token_bytes(32)
        self._max_cached = max_cached
        self._cache: OrderedDict[str, tuple[str, bytes]] = OrderedDict()

    def _digest(self, station_id: str, octets: bytes) -> bytes:
        data = station_id.encode("utf-8", "surrogatepass") + b"\x00" + octets
        return hashlib.blake2b(data, key=self._cache_key, digest_size=32).digest()

    def _cache_hit(self, station_id: str, stored: str, octets: bytes) -> bool:
        entry = self._cache.get(station_id)
        if entry is None or entry[0] != stored:
            return False
        return hmac.compare_digest(entry[1], self._digest(station_id, octets))

    def _remember(self, station_id: str, stored: str, octets: bytes) -> None:
        self._cache[station_id] = (stored, self._digest(station_id, octets))
        self._cache.move_to_end(station_id)
        while len(self._cache) > self._max_cached:
            self._cache.popitem(last=False)

    def forget(self, station_id: str) -> None:
        """Drop a cached success (e.g. when the station is deleted or its key revoked)."""
        self._cache.pop(station_id, None)

    async def authenticate(
        self, station_id: str, authorization_header: str | None, remote_address: str
    ) -> bool:
        """True if the header carries this station's key; False after any penalty."""
        credentials = parse_basic_authorization(authorization_header)
        if credentials is None:
            return await self._fail(station_id, remote_address, "missing or malformed header")
        username, password = credentials
        if username != station_id:
            return await self._fail(station_id, remote_address, "username is not the station id")

        stored = await self._lookup_hash(station_id)
        if stored is None:
            async with self._hash_slots:
                await asyncio.to_thread(self._dummy, self._cost)
            return await self._fail(station_id, remote_address, "unknown station id")

        octets = key_octets(password)
        if self._cache_hit(station_id, stored, octets):
            return self._succeed(station_id, remote_address, cached=True)
        try:
            async with self._hash_slots:
                ok = await asyncio.to_thread(self._verify, stored, password)
        except ValueError:
            log.error("stored key hash is malformed", station_id=station_id)
            return await self._fail(station_id, remote_address, "malformed stored hash")
        if not ok:
            return await self._fail(station_id, remote_address, "wrong key")
        self._remember(station_id, stored, octets)
        return self._succeed(station_id, remote_address, cached=False)

    def _succeed(self, station_id: str, remote_address: str, *, cached: bool) -> bool:
        self._throttle.record_success(station_id, remote_address)
        log.debug(
            "station authenticated",
            station_id=station_id,
            remote_address=remote_address,
            cached=cached,
        )
        return True

    async def _fail(self, station_id: str, remote_address: str, reason: str) -> bool:
        delay = self._throttle.penalty(station_id, remote_address)
        self._throttle.record_failure(station_id, remote_address)
        log.info(
            "station authentication failed",
            station_id=station_id,
            remote_address=remote_address,
            reason=reason,
            delay=delay,
        )
        if self._on_failure is not None:
            try:
                self._on_failure(station_id, remote_address, reason)
            except Exception:  # a broken observer must not turn a 401 into a 500
                log.exception("on_failure callback failed", station_id=station_id)
        if delay > 0:
            await self._sleep(delay)
        return False
