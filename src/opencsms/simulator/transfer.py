"""File transfers of a simulated station over HTTP(S): the firmware download
and the diagnostics upload that UpdateFirmware and GetDiagnostics ask for.

With a :class:`HttpTransfer` the simulated hardware really fetches the
image from the ``location`` it was given (trusting the CA the simulator
trusts for its WebSocket) and really uploads a generated log file; without
one it only pretends, as before, which suits tests that give a made-up URL.

A download counts only when every byte arrived: the body length must match
``Content-Length`` and, when the server names one, ``X-Content-SHA256``
(opencsms does). Errors of any kind (refused, TLS, 4xx/5xx, short body) are
a failed attempt, which the station reports as DownloadFailed/UploadFailed
after its retries: a station never raises into its protocol loop.
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass
from typing import Literal

import httpx
import structlog

log = structlog.get_logger("opencsms.simulator")


@dataclass(frozen=True, slots=True)
class Download:
    location: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


class HttpTransfer:
    def __init__(
        self,
        *,
        ca_file: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 30.0,
        upload_method: Literal["PUT", "POST"] = "PUT",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._verify: ssl.SSLContext | bool = (
            ssl_context if ssl_context is not None else ssl.create_default_context(cafile=ca_file)
        )
        self._timeout = timeout
        self.upload_method = upload_method
        self._transport = transport
        """Swapped in by tests (``httpx.MockTransport``); None: the network."""

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            verify=self._verify, timeout=self._timeout, transport=self._transport
        )

    async def download(self, location: str) -> Download | None:
        try:
            async with self._client() as client:
                response = await client.get(location)
        except httpx.HTTPError as exc:
            log.info("firmware download failed", location=location, error=repr(exc))
            return None
        if response.status_code != 200:
            log.info("firmware download refused", location=location, code=response.status_code)
            return None
        got = Download(location, response.content)
        encoded = response.headers.get("content-encoding", "identity") != "identity"
        declared = None if encoded else response.headers.get("content-length")
        digest = response.headers.get("x-content-sha256")
        if (declared is not None and int(declared) != len(got.content)) or (
            digest is not None and digest != got.sha256
        ):
            log.info("firmware download corrupt", location=location)
            return None
        return got

    async def upload(self, location: str, file_name: str, content: bytes) -> bool:
        try:
            async with self._client() as client:
                if self.upload_method == "PUT":
                    response = await client.put(
                        location,
                        content=content,
                        headers={"Content-Type": "application/octet-stream"},
                    )
                else:
                    files = {"file": (file_name, content, "application/octet-stream")}
                    response = await client.post(location, files=files)
        except httpx.HTTPError as exc:
            log.info("diagnostics upload failed", location=location, error=repr(exc))
            return False
        if not response.is_success:
            log.info("diagnostics upload refused", location=location, code=response.status_code)
            return False
        return True
