"""The dashboard's pages, one module per section; each has a ``router``
mounted under ``/dashboard`` by :func:`opencsms.dashboard.app.mount_dashboard`."""
