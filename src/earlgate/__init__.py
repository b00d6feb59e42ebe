"""earlgate: connect small wireless IoT devices to the Internet in real time.

The package is laid out as its architecture:

- ``earlgate.wire``: the shared wire vocabulary (subjects and their matching,
  error codes, frame types, the durable policy); pure, standard library only.
- ``earlgate.hub``: the WebSocket publish/subscribe hub (pure protocol core in
  ``hub.frames``/``hub.core``, asyncio I/O in ``hub.server``).
- ``earlgate.broker``: where published messages go between hubs (in-memory now,
  Redis next), behind one interface.
- ``earlgate.client``: the asyncio client library.
- ``earlgate.led``: the TCA6507 LED module driver and its simulator.
- ``earlgate.devices``: simulated Earl devices.
- ``earlgate.cli``: the ``earlgate`` command.
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["__version__"]
