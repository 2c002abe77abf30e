"""The API tests run against a real CentralSystem over HTTPS: the fixtures
are the integration tests' (``central``, ``api_client``, ``reader_client``)."""

from integration.conftest import (  # noqa: F401
    api_client,
    central,
    reader_client,
    start_central,
)
