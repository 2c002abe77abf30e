"""Payload validation against the official OCPP 1.6 JSON schemas.

The schemas are the ones shipped in the ``ocpp`` package. They are compiled
once per action with fastjsonschema into plain Python functions: validating a
MeterValues this way costs microseconds, where the ``ocpp`` package's
jsonschema path costs about 0.7 ms — that difference decides how many stations
one node can serve.

Schema failures map to the OCPP-J 1.6 error codes (section 4.2.3):
wrong JSON type -> TypeConstraintViolation, missing required field ->
OccurenceConstraintViolation, unknown field -> FormationViolation, any other
broken constraint (enum, length, range, format) -> PropertyConstraintViolation.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import fastjsonschema

from opencsms.ocpp.errors import (
    FormationViolationError,
    OccurenceConstraintViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    TypeConstraintViolationError,
)

Validator = Callable[[Any], Any]

_SCHEMA_PACKAGE = "ocpp.v16.schemas"


@functools.cache
def _schema_names() -> frozenset[str]:
    """The schemas shipped, by name ("Heartbeat", "HeartbeatResponse", ...)."""
    files = resources.files(_SCHEMA_PACKAGE).iterdir()
    return frozenset(f.name.removesuffix(".json") for f in files if f.name.endswith(".json"))


def _compiled(name: str) -> Validator | None:
    # Only names of shipped schemas reach the cache: action names come from
    # stations, and caching every unknown one would let a station grow it
    # without bound.
    if name not in _schema_names():
        return None
    return _compile(name)


@functools.cache
def _compile(name: str) -> Validator:
    text = resources.files(_SCHEMA_PACKAGE).joinpath(f"{name}.json").read_text("utf-8")
    schema = json.loads(text)
    # The 1.6 schemas declare draft-04; the "format" keyword is asserted
    # (date-time), as the specification requires RFC 3339 timestamps.
    validator: Validator = fastjsonschema.compile(schema, use_formats=True)
    return validator


def known_action(action: str) -> bool:
    return _compiled(action) is not None


def _to_ocpp_error(exc: fastjsonschema.JsonSchemaValueException) -> OCPPError:
    where = (exc.name or "data").replace("data", "payload", 1)
    rule = exc.rule
    details = {"field": where, "rule": rule}
    if rule == "type":
        return TypeConstraintViolationError(f"{where}: {exc.message}", details)
    if rule in ("required", "minItems", "maxItems"):
        return OccurenceConstraintViolationError(f"{where}: {exc.message}", details)
    if rule == "additionalProperties":
        return FormationViolationError(f"{where}: {exc.message}", details)
    return PropertyConstraintViolationError(f"{where}: {exc.message}", details)


def validate_request(action: str, payload: dict[str, Any]) -> None:
    """Raise the matching :class:`OCPPError` if ``payload`` breaks the request schema."""
    _validate(action, payload)


def validate_response(action: str, payload: dict[str, Any]) -> None:
    """Raise the matching :class:`OCPPError` if ``payload`` breaks the response schema."""
    _validate(f"{action}Response", payload)


def _validate(schema_name: str, payload: dict[str, Any]) -> None:
    validator = _compiled(schema_name)
    if validator is None:
        return
    try:
        validator(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise _to_ocpp_error(exc) from None
