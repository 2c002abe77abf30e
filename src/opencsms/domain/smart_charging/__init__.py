"""Smart charging: tariff and carbon signals, the planner, session accounting.

Pure functions and plain records (evcc's model): a signal is a sorted list of
:class:`~opencsms.domain.smart_charging.rates.Rate`; the planner turns a
session's need and the signals into a schedule; accounting turns metered
energy and the same signals into cost, CO2 and savings. Nothing here talks to
a station or a database.
"""
