"""Repositories for station configuration snapshots and provisioning (SKELETON)."""

from __future__ import annotations

from opencsms.storage.pending import Executor


class SqlConfigurationRepository:
    def __init__(self, conn: Executor) -> None:
        self._conn = conn
