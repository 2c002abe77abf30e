"""``python -m opencsms`` is the ``opencsms`` command."""

from opencsms.cli.main import app

app()
