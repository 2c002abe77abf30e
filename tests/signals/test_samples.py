"""The samples ship inside the package (importlib.resources) and each one parses."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from opencsms import signals
from opencsms.signals import sample, sample_names

PARSERS: dict[str, Callable[[bytes], object]] = {
    "carbon_intensity_national.json": signals.parse_carbon_intensity,
    "carbon_intensity_regional.json": signals.parse_carbon_intensity,
    "entsoe_de_lu_2024-03-31.xml": signals.parse_entsoe,
    "flex_events.json": signals.parse_simple_events,
    "octopus_agile_page1.json": lambda text: signals.parse_agile([text]),
    "octopus_agile_page2.json": lambda text: signals.parse_agile([text]),
    "openadr_distribute_event.json": signals.parse_openadr_events,
    "rates.csv": signals.parse_csv_rates,
    "sites.json": signals.parse_sites,
}


def test_every_sample_is_a_package_resource_with_a_parser() -> None:
    assert sample_names() == sorted(PARSERS)


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_sample_parses(name: str) -> None:
    assert PARSERS[name](sample(name))
