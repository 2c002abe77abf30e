"""Repositories for operator API keys (SKELETON: to be implemented)."""

from __future__ import annotations

from opencsms.storage.pending import Executor


class SqlApiKeyRepository:
    def __init__(self, conn: Executor) -> None:
        self._conn = conn
