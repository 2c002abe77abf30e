"""Repositories for firmware files and jobs, diagnostics jobs (SKELETON: to be implemented)."""

from __future__ import annotations

from opencsms.storage.pending import Executor


class SqlFirmwareRepository:
    def __init__(self, conn: Executor) -> None:
        self._conn = conn


class SqlDiagnosticsRepository:
    def __init__(self, conn: Executor) -> None:
        self._conn = conn
