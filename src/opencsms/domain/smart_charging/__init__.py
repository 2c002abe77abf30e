"""Smart charging: tariff and carbon signals, the planner, profiles, accounting.

Two layers (see ``docs/adr/0004-live-smart-charging.md``):

- **Pure functions and plain records** (evcc's model): a signal is a sorted
  list of :class:`~opencsms.domain.smart_charging.rates.Rate`; ``planner`` and
  ``site_planner`` (with ``site_problem``, ``site_pauses``) turn needs and
  signals into schedules; ``grid`` combines site limits and flexibility
  events; ``profiles`` turns a schedule into the OCPP profile a given station
  accepts and ``verification`` checks its composite schedule; ``accounting``
  and ``estimates`` turn metered energy into cost, CO2, savings and time to
  finish; ``case`` is the what-if format of ``opencsms plan``.
- **Live services behind the storage ports**: ``service`` (what operators
  call), ``replanning`` (triggers, coalesced re-plans, the sweep) with
  ``live_inputs`` / ``live_plan`` / ``apply_order``, ``session_view`` (plan
  vs actual), and ``enforcement`` (with ``profile_sender``, ``profile_store``)
  which sends, verifies and escalates profiles through the
  :class:`~opencsms.domain.commands.CommandService`. ``records`` holds what
  they store. None of it knows WebSockets or HTTP.
"""
