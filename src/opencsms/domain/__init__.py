"""Domain services: what the central system does with what stations tell it.

Pure async services behind the narrow ports of :mod:`opencsms.domain.ports`.
They know nothing of WebSockets or OCPP-J framing, nor of SQL.
"""
