"""Local authorization: the Local Authorization List and the Authorization Cache.

OCPP 1.6 sections 3.4-3.5: the list is managed by the central system
(SendLocalList full/differential, versioned); the cache is filled by the
station from every IdTagInfo it receives and emptied by ClearCache. Both
answer "may this tag charge?" when the station is offline
(``LocalAuthorizeOffline``) or before asking (``LocalPreAuthorize``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ocpp.v16.enums import AuthorizationStatus, UpdateStatus, UpdateType

from opencsms.chargepoint.clock import parse_time

IdTagInfo = dict[str, Any]


def _usable(info: IdTagInfo, now: datetime) -> bool:
    if info.get("status") != AuthorizationStatus.accepted:
        return False
    expiry = info.get("expiryDate")
    return not (expiry and parse_time(expiry) <= now)


@dataclass(slots=True)
class LocalAuthList:
    version: int = 0
    entries: dict[str, IdTagInfo] = field(default_factory=dict)

    def update(
        self, version: int, update_type: str, items: list[dict[str, Any]], max_length: int
    ) -> UpdateStatus:
        """SendLocalList.req semantics; returns the status to answer with."""
        if update_type == UpdateType.full:
            entries: dict[str, IdTagInfo] = {}
        else:
            if version <= self.version:
                return UpdateStatus.version_mismatch
            entries = dict(self.entries)
        for item in items:
            info = item.get("idTagInfo")
            if info is None:
                entries.pop(item["idTag"], None)
            else:
                entries[item["idTag"]] = info
        if len(entries) > max_length:
            return UpdateStatus.failed
        self.version, self.entries = version, entries
        return UpdateStatus.accepted


@dataclass(slots=True)
class AuthorizationCache:
    entries: dict[str, IdTagInfo] = field(default_factory=dict)

    def remember(self, id_tag: str, info: IdTagInfo) -> None:
        self.entries[id_tag] = info

    def clear(self) -> None:
        self.entries.clear()


def authorize_locally(
    id_tag: str,
    now: datetime,
    local_list: LocalAuthList | None,
    cache: AuthorizationCache | None,
) -> IdTagInfo | None:
    """IdTagInfo from the list (first) or cache, or None when neither knows the tag.
    An expired or blocked entry is returned as is, so the caller sees the refusal."""
    for source in (local_list, cache):
        if source is None:
            continue
        info = source.entries.get(id_tag)
        if info is not None:
            if not _usable(info, now) and info.get("status") == AuthorizationStatus.accepted:
                return {**info, "status": AuthorizationStatus.expired.value}
            return info
    return None
