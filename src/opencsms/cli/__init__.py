"""The ``opencsms`` command line (Typer)."""
