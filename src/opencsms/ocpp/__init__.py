"""The OCPP-J wire layer.

Framing, schema validation, error codes, the action router and the per-connection
session. Nothing in this package imports storage, domain services or the web API:
it speaks OCPP-J and hands decoded payloads to whatever handlers it is given.
"""
