"""opencsms: an OCPP 1.6J central system and smart-charging platform."""

__version__ = "0.1.0"
