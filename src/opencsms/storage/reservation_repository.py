"""Repositories for reservations and local authorization lists (SKELETON: to be implemented)."""

from __future__ import annotations

from opencsms.storage.pending import Executor


class SqlReservationRepository:
    def __init__(self, conn: Executor) -> None:
        self._conn = conn


class SqlLocalListRepository:
    def __init__(self, conn: Executor) -> None:
        self._conn = conn
