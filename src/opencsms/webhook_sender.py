"""The HTTP client behind webhook deliveries (``domain.webhooks.Sender``).

Kept out of ``domain/``, which knows no HTTP library: the domain decides what
to send, when and how to sign it; this only POSTs bytes and reports the status.
"""

from __future__ import annotations

import ssl

import httpx


class HttpxSender:
    """One pooled ``httpx.AsyncClient``, opened on first use; redirects are not
    followed (a 3xx counts as a failed attempt, its status recorded)."""

    def __init__(self, timeout: float = 10.0, verify: bool | ssl.SSLContext = True) -> None:
        self._timeout = timeout
        self._verify = verify
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, url: str, headers: dict[str, str], body: bytes) -> int:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self._timeout, verify=self._verify, follow_redirects=False
            )
        response = await self._client.post(url, content=body, headers=headers)
        return response.status_code

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
