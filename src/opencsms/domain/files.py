"""Files the CSMS keeps on disk: firmware images it serves, diagnostics it receives.

Both arrive as a stream of byte chunks (an HTTP body, read by the API) and
may be large, so they are written chunk by chunk to a temporary file next to
their final place, hashed on the way, and renamed into place only when
complete and within the size limit: a reader never sees half a file, and a
refused upload leaves nothing behind. File writes run in a worker thread so a
slow disk does not stall the stations' message path.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import secrets
from collections.abc import AsyncIterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 100


class FileTooLarge(ValueError):
    """The stream went past the size limit; nothing was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than the limit of {limit} bytes")
        self.limit = limit


def safe_name(name: str | None, fallback: str) -> str:
    """A file or directory name that is safe on any file system and in a URL:
    the last path component, characters outside ``[A-Za-z0-9._-]`` replaced,
    no leading dots (no ``..``, no hidden files), at most 100 characters."""
    base = re.split(r"[/\\]", name or "")[-1]
    cleaned = _UNSAFE.sub("_", base).lstrip(".")[:MAX_NAME].strip("_") if base else ""
    return cleaned or fallback


def random_id() -> str:
    """256 random bits, URL-safe: an id that is also a capability."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class StoredFile:
    path: Path
    size: int
    sha256: str


async def store_stream(chunks: AsyncIterable[bytes], target: Path, max_bytes: int) -> StoredFile:
    """Write ``chunks`` to ``target`` (parents created), at most ``max_bytes``.

    Raises :class:`FileTooLarge` (and removes what was written) past the limit.
    An existing ``target`` is replaced atomically.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{secrets.token_hex(8)}.part")
    digest = hashlib.sha256()
    size = 0
    handle = await asyncio.to_thread(partial.open, "wb")
    try:
        async for chunk in chunks:
            if not chunk:
                continue
            size += len(chunk)
            if size > max_bytes:
                raise FileTooLarge(max_bytes)
            digest.update(chunk)
            await asyncio.to_thread(handle.write, chunk)
        await asyncio.to_thread(_flush_and_close, handle)
        await asyncio.to_thread(os.replace, partial, target)
    except BaseException:
        handle.close()
        partial.unlink(missing_ok=True)
        raise
    return StoredFile(target, size, digest.hexdigest())


def _flush_and_close(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
