"""Engine creation: URL checks, SQLite PRAGMAs and directory creation."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from opencsms.storage import UnsupportedDatabaseURL, create_engine, normalize_url


@pytest.mark.parametrize(
    "url",
    [
        "mysql://u@h/db",
        "postgresql+psycopg2://u@h/db",
        "sqlite+pysqlite:///x.db",
        "sqlite://",
        "sqlite:///:memory:",
        "not a url",
    ],
)
def test_unsupported_urls_are_refused_clearly(url: str) -> None:
    with pytest.raises(UnsupportedDatabaseURL):
        create_engine(url)


def test_async_driver_is_filled_in() -> None:
    assert normalize_url("sqlite:///a/b.db").drivername == "sqlite+aiosqlite"
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+asyncpg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+asyncpg"


def test_bad_synchronous_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sqlite_synchronous"):
        create_engine(f"sqlite:///{tmp_path / 'x.db'}", sqlite_synchronous="SOMETIMES")


@pytest.mark.parametrize(("mode", "level"), [("FULL", 2), ("normal", 1)])
async def test_sqlite_pragmas_and_parent_directory(tmp_path: Path, mode: str, level: int) -> None:
    path = tmp_path / "deep" / "er" / "opencsms.db"
    engine = create_engine(f"sqlite:///{path}", sqlite_synchronous=mode)
    try:
        async with engine.connect() as conn:
            pragma = {
                name: (await conn.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
    finally:
        await engine.dispose()
    assert path.exists()
    assert pragma["journal_mode"] == "wal"
    assert pragma["synchronous"] == level
    assert pragma["foreign_keys"] == 1
    assert pragma["busy_timeout"] > 0
