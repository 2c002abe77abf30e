"""API keys, station and tag pages, transaction filters on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from opencsms.domain.api_keys import ApiKeyService, hash_secret
from opencsms.domain.model import ApiKey, ApiRole, IdTag, Station, TagStatus, TransactionStart
from opencsms.domain.ports import Repositories
from opencsms.storage import SqlUnitOfWork
from opencsms.storage.api_key_repository import ApiKeyExists

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def key(key_id: str, name: str, role: ApiRole = ApiRole.ADMIN, at: float = 0) -> ApiKey:
    return ApiKey(key_id, name, role, hash_secret(name), T0 + timedelta(seconds=at))


async def test_add_get_list_touch_revoke(uow: SqlUnitOfWork) -> None:
    one, two = key("a" * 16, "ops"), key("b" * 16, "dash", ApiRole.READ_ONLY, at=1)

    async def add(r: Repositories) -> None:
        await r.api_keys.add(one)
        await r.api_keys.add(two)

    await uow.run(add)

    async def read(r: Repositories) -> tuple[ApiKey | None, ApiKey | None, list[ApiKey]]:
        return await r.api_keys.get(one.id), await r.api_keys.get("c" * 16), await r.api_keys.list()

    assert await uow.read(read) == (one, None, [one, two])

    async def duplicate(r: Repositories) -> None:
        await r.api_keys.add(replace(one, name="other"))

    with pytest.raises(ApiKeyExists):
        await uow.run(duplicate)

    async def use_and_revoke(r: Repositories) -> tuple[bool, bool, bool]:
        await r.api_keys.touch(one.id, T0 + timedelta(minutes=5))
        return (
            await r.api_keys.revoke(two.id, T0 + timedelta(minutes=6)),
            await r.api_keys.revoke(two.id, T0 + timedelta(minutes=7)),
            await r.api_keys.revoke("c" * 16, T0),
        )

    assert await uow.run(use_and_revoke) == (True, False, False)
    got_one, _, listed = await uow.read(read)
    assert got_one == replace(one, last_used_at=T0 + timedelta(minutes=5))
    assert listed[1].revoked_at == T0 + timedelta(minutes=6)


async def test_service_create_verify_revoke(uow: SqlUnitOfWork) -> None:
    service = ApiKeyService(uow, clock=lambda: T0)
    created = await service.create("ops", ApiRole.READ_ONLY)
    assert created.token.startswith(f"ocsms_{created.key.id}_")
    secret = created.token.split("_", 2)[2]
    assert secret not in created.key.key_hash and len(secret) == 43
    assert await service.verify(created.token) == created.key
    assert await service.get(created.key.id) == replace(created.key, last_used_at=T0)
    for wrong in (
        created.token[:-1] + ("A" if created.token[-1] != "A" else "B"),
        created.token + "x",
        "ocsms_" + "0" * 16 + "_" + secret,
        "",
        "Bearer " + created.token,
    ):
        assert await service.verify(wrong) is None, wrong
    assert await service.revoke(created.key.id)
    assert await service.verify(created.token) is None
    with pytest.raises(ValueError):
        await service.create("  ", ApiRole.ADMIN)


async def test_station_and_tag_pages(uow: SqlUnitOfWork) -> None:
    async def add(r: Repositories) -> None:
        for n in (3, 1, 2, 5, 4):
            await r.stations.add(Station(f"S{n}", None, T0))
            await r.id_tags.put(IdTag(f"T{n}"))

    await uow.run(add)

    async def pages(r: Repositories) -> list[list[str]]:
        return [
            [s.id for s in await r.stations.list(limit=2)],
            [s.id for s in await r.stations.list(limit=2, after="S2")],
            [s.id for s in await r.stations.list(after="S4")],
            [t.id_tag for t in await r.id_tags.list(limit=3, after="T1")],
        ]

    assert await uow.read(pages) == [["S1", "S2"], ["S3", "S4"], ["S5"], ["T2", "T3", "T4"]]

    async def remove(r: Repositories) -> tuple[bool, bool]:
        return await r.id_tags.remove("T3"), await r.id_tags.remove("T3")

    assert await uow.run(remove) == (True, False)


async def test_transaction_filters(uow: SqlUnitOfWork) -> None:
    async def add(r: Repositories) -> list[int]:
        ids = []
        for n, (station, tag) in enumerate((("A", "x"), ("A", "y"), ("B", "x"))):
            await r.stations.add(Station(station, None, T0)) if n != 1 else None
            start = TransactionStart(station, 1, tag, 0, T0 + timedelta(hours=n))
            ids.append((await r.transactions.create(start, TagStatus.ACCEPTED)).id)
        return ids

    first, second, third = await uow.run(add)

    async def query(r: Repositories) -> list[list[int]]:
        def ids(found: list[object]) -> list[int]:
            return [t.id for t in found]  # type: ignore[attr-defined]

        return [
            ids(await r.transactions.list(id_tag="x")),
            ids(await r.transactions.list("A", id_tag="x")),
            ids(await r.transactions.list(started_from=T0 + timedelta(hours=1))),
            ids(await r.transactions.list(started_before=T0 + timedelta(hours=1))),
            ids(await r.transactions.list(limit=1, offset=1)),
        ]

    assert await uow.read(query) == [[third, first], [first], [third, second], [first], [second]]
