"""Repositories for commands (audit trail and queue) (SKELETON: to be implemented)."""

from __future__ import annotations

from opencsms.storage.pending import Executor


class SqlCommandRepository:
    def __init__(self, conn: Executor) -> None:
        self._conn = conn
