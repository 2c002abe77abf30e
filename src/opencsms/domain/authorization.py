"""Id tags: what a tag's record means for a station asking about it."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from opencsms.domain.clock import Clock, utc_now
from opencsms.domain.model import IdTag, IdTagInfo, TagStatus
from opencsms.domain.ports import Repositories, UnitOfWork


def tag_info(tag: IdTag | None, now: datetime) -> IdTagInfo:
    """The IdTagInfo for a stored tag: unknown -> Invalid, past expiry -> Expired."""
    if tag is None:
        return IdTagInfo(TagStatus.INVALID)
    status = tag.status
    if status is TagStatus.ACCEPTED and tag.expiry_date is not None and tag.expiry_date <= now:
        status = TagStatus.EXPIRED
    return IdTagInfo(status, tag.expiry_date, tag.parent_id_tag)


class AuthorizationService:
    def __init__(self, uow: UnitOfWork, clock: Clock = utc_now) -> None:
        self._uow = uow
        self._clock = clock

    async def authorize(self, id_tag: str) -> IdTagInfo:
        async def work(repos: Repositories) -> IdTagInfo:
            return tag_info(await repos.id_tags.get(id_tag), self._clock())

        return await self._uow.read(work)


class TagService:
    """Administration of id tags (CLI, later the API)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def put(self, tag: IdTag) -> None:
        async def work(repos: Repositories) -> None:
            await repos.id_tags.put(tag)

        await self._uow.run(work)

    async def add(self, tag: IdTag) -> bool:
        """Insert a new tag; False (nothing changed) when the id tag exists."""

        async def work(repos: Repositories) -> bool:
            if await repos.id_tags.get(tag.id_tag) is not None:
                return False
            await repos.id_tags.put(tag)
            return True

        return await self._uow.run(work)

    async def get(self, id_tag: str) -> IdTag | None:
        async def work(repos: Repositories) -> IdTag | None:
            return await repos.id_tags.get(id_tag)

        return await self._uow.read(work)

    async def remove(self, id_tag: str) -> bool:
        async def work(repos: Repositories) -> bool:
            return await repos.id_tags.remove(id_tag)

        return await self._uow.run(work)

    async def set_status(self, id_tag: str, status: TagStatus) -> bool:
        async def work(repos: Repositories) -> bool:
            tag = await repos.id_tags.get(id_tag)
            if tag is None:
                return False
            await repos.id_tags.put(replace(tag, status=status))
            return True

        return await self._uow.run(work)

    async def list(self, limit: int | None = None, after: str | None = None) -> list[IdTag]:
        async def work(repos: Repositories) -> list[IdTag]:
            return await repos.id_tags.list(limit=limit, after=after)

        return await self._uow.read(work)
