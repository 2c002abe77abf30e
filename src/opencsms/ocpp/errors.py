"""OCPP-J error codes with their OCPP 1.6 spellings.

The classes come from the ``ocpp`` package; this module only names the ones a
1.6 central system may send (note the 1.6 spellings ``FormationViolation`` and
``OccurenceConstraintViolation``, kept by the 1.6 errata) and the exception a
caller sees when the other side answers a CALL with a CALLERROR.
"""

from __future__ import annotations

from typing import Any

from ocpp.exceptions import (
    FormationViolationError,
    GenericError,
    InternalError,
    NotImplementedError,
    NotSupportedError,
    OccurenceConstraintViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    ProtocolError,
    SecurityError,
    TypeConstraintViolationError,
)

__all__ = [
    "CallErrorReceived",
    "FormationViolationError",
    "GenericError",
    "InternalError",
    "NotImplementedError",
    "NotSupportedError",
    "OCPPError",
    "OccurenceConstraintViolationError",
    "PropertyConstraintViolationError",
    "ProtocolError",
    "SecurityError",
    "TypeConstraintViolationError",
]


class CallErrorReceived(Exception):
    """The peer answered our CALL with a CALLERROR."""

    def __init__(self, action: str, code: str, description: str, details: dict[str, Any]):
        super().__init__(f"{action}: {code}: {description}")
        self.action = action
        self.code = code
        self.description = description
        self.details = details
