"""The operator dashboard: server-rendered pages served by the API process.

Jinja2 templates (``templates/``) with htmx for partial updates and uPlot for
charts, both vendored in ``static/vendor/`` (no Node build). Operators log in
with a name and password (:mod:`opencsms.dashboard.auth`); pages read the
domain services through the API's context and never touch storage or
sockets directly. One module per section in ``pages/``; live updates come
from the node's event stream (:mod:`opencsms.dashboard.live`).
"""
