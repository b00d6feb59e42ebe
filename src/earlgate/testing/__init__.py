"""Servers started as child processes for the tests and the benches.

- ``signalprocs``: ``earlgate signal`` and the Node PeerServer, side by side
  with the same settings.
- ``turn``: a loopback TURN relay (coturn), for peers on a host with only
  loopback addresses.

Not used by the product; importing this package loads none of them.
"""
