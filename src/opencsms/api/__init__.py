"""The operator REST API (FastAPI) under ``/api/v1``, on its own port.

Layout: ``app.py`` builds the application from an :class:`ApiContext`;
``auth.py`` checks bearer API keys and roles; ``routes/`` holds one router
per resource, each a thin adapter from HTTP to a domain service; ``files.py``
serves firmware to stations and receives their diagnostics uploads.
"""
