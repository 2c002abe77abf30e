"""Bearer API keys and roles, as FastAPI dependencies.

``Authorization: Bearer ocsms_<id>_<secret>`` (see
:mod:`opencsms.domain.api_keys` for the format and why SHA-256 suffices).
A missing, malformed, unknown or revoked key gets 401 with
``WWW-Authenticate: Bearer``; a read-only key on an admin route gets 403.

Routes declare what they need::

    @router.get("/things")
    async def things(principal: Principal = Depends(require_reader)): ...

    @router.post("/things")
    async def make(principal: Principal = Depends(require_admin)): ...

and pass ``principal.label`` as ``requested_by`` to the domain, so every
command's audit record names the key that asked for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from opencsms.api.context import ApiContext, api_context
from opencsms.domain.model import ApiRole

_bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="ocsms_<id>_<secret>",
    description="An API key made with `opencsms apikeys create NAME [--role read-only]`.",
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the API key behind the request (or, for the CLI
    working in-process on the local database, ``kind="cli"``)."""

    key_id: str
    name: str
    role: ApiRole
    kind: str = "apikey"

    @property
    def label(self) -> str:
        """How this caller appears in audit records (``Command.requested_by``)."""
        return f"{self.kind}:{self.name}"

    @property
    def is_admin(self) -> bool:
        return self.role is ApiRole.ADMIN


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


async def require_reader(
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
    ctx: ApiContext = Depends(api_context),
) -> Principal:
    """Any valid key (admin or read-only)."""
    if credentials is None:
        raise _unauthorized("an API key is required: Authorization: Bearer <key>")
    key = await ctx.services.api_keys.verify(credentials.credentials)
    if key is None:
        raise _unauthorized("invalid or revoked API key")
    return Principal(key_id=key.id, name=key.name, role=key.role)


async def require_admin(principal: Principal = Depends(require_reader)) -> Principal:
    """An admin key; a read-only one gets 403."""
    if not principal.is_admin:
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail=f"API key {principal.name!r} is read-only; this needs an admin key",
        )
    return principal
