"""Signal adapters: outside price, carbon and grid formats → domain records.

Like ``v16/`` is for OCPP, this package is the edge where foreign formats
stop: each module reads one format whole and returns normalised
:class:`~opencsms.domain.smart_charging.rates.Rate` lists (sorted, UTC,
explicit units) or :mod:`~opencsms.domain.smart_charging.grid` records. A
file that is wrong anywhere raises :class:`SignalFormatError` and returns
nothing. No network, no database: callers fetch the bytes and store the
result.

==========================  =====================================  ==========
format                      function                               unit
==========================  =====================================  ==========
Octopus Agile JSON pages    :func:`parse_agile`                    p/kWh
UK Carbon Intensity JSON    :func:`parse_carbon_intensity`         gCO2/kWh
ENTSO-E A44 XML             :func:`parse_entsoe`                   EUR/kWh
CSV start,end,value[,unit]  :func:`parse_csv_rates`                as given
sites JSON                  :func:`parse_sites`                    kW or A
simple flex events JSON     :func:`parse_simple_events`            kW, price
OpenADR 2.0b (OpenLEADR)    :func:`parse_openadr_events`           kW, price
==========================  =====================================  ==========

A real-shaped sample of each ships in ``opencsms/signals/samples/``
(:func:`sample` reads one).
"""

from __future__ import annotations

from importlib.resources import files

from opencsms.signals.carbon_intensity import parse_carbon_intensity
from opencsms.signals.csv_rates import parse_csv_rates
from opencsms.signals.entsoe import parse_entsoe
from opencsms.signals.errors import SignalFormatError
from opencsms.signals.flexibility import parse_openadr_events, parse_simple_events, parse_sites
from opencsms.signals.octopus import parse_agile

__all__ = [
    "SignalFormatError",
    "parse_agile",
    "parse_carbon_intensity",
    "parse_csv_rates",
    "parse_entsoe",
    "parse_openadr_events",
    "parse_simple_events",
    "parse_sites",
    "sample",
    "sample_names",
]


def sample_names() -> list[str]:
    """The sample files shipped with the package."""
    return sorted(
        entry.name
        for entry in files("opencsms.signals").joinpath("samples").iterdir()
        if entry.is_file() and not entry.name.startswith(".")
    )


def sample(name: str) -> bytes:
    """The bytes of a shipped sample file (e.g. ``"entsoe_de_lu_2024-03-31.xml"``)."""
    return files("opencsms.signals").joinpath("samples", name).read_bytes()
