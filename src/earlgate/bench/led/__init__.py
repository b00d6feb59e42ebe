"""``earlgate bench led-loop``: the thesis's servo loop (§5.2) through a hub.

- ``tracking``: latencies and tracking errors of a run (pure).
- ``loop``: the LED, the light sensor and the emitter, each with its own hub
  connection; the report.
- ``command``: a hub if none is given, the run and the report, for the CLI.
"""
