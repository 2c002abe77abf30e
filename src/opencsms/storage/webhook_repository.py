"""Repositories for webhooks and their delivery log (SKELETON: to be implemented)."""

from __future__ import annotations

from opencsms.storage.pending import Executor


class SqlWebhookRepository:
    def __init__(self, conn: Executor) -> None:
        self._conn = conn
