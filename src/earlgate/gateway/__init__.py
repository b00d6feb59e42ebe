"""The WebRTC gateway (thesis chapter 3), a pure core with thin I/O around it.

Pure, no asyncio or aiortc: ``aggregate`` (the versioned mux message format),
``mux`` (the multiplexer and demultiplexer state machines), ``routes`` (the
routes file), ``router`` (the routing state machine: events in, actions out)
and ``stats`` (what the gateway counts). The I/O: ``service``
(:class:`~earlgate.gateway.service.Gateway`, ``earlgate gateway``) with its
per-destination ``outbox``, its mux ``lanes`` and ``metrics``; ``peering``
(signaling URL and ICE options); ``mesh`` (``earlgate mesh``, the arm-probe
mesh). Importing this package loads none of them. The benches of the gateway
(``earlgate bench rtc``) live in :mod:`earlgate.bench.gateway`.
"""
