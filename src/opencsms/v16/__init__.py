"""OCPP 1.6 adapters: the seam between the wire layer and the domain.

``uplink`` answers what stations send (one small handler per action);
``convert`` turns 1.6 JSON payloads into domain records and back. The wire
package ``opencsms.ocpp`` stays free of domain imports; the domain stays free
of OCPP-J and WebSockets; only this package knows both.
"""
