"""``earlgate bench rtc``: the thesis's WebRTC gateway experiments (3.7).

- ``options``: the bench's options, step results and their statistics (pure).
- ``steps``: one step of forward, mux, demux or mesh, and the ramp of steps.
- ``gatewayproc``: ``earlgate gateway`` in a child process, its routes, and
  what a step needs of any gateway (``StepGateway``).
- ``browsergw``: the ``/gateway`` page in headless Chromium as the gateway;
  ``chromiumproc`` that Chromium, pinned, and ``proctree`` the CPU of its
  whole process tree.
- ``browsermesh``: a mesh step with ``/arm`` pages among its peers.
- ``loadplan``, ``loadprocess``, ``loadside``: the sending and receiving peers
  in child processes of their own (the plan, the parent's handle, the child);
  two-way, the receivers answer.
- ``meshdelays``: one-way delays of the arm-probe mesh's messages
  (``earlgate mesh`` and the mesh steps).
- ``report``: the step tables, plots and raw JSON.
- ``commands``: the run's own servers, a run and its report, for the CLI.
- ``testbed`` and ``network``: the namespace test bed of 3.7.1 and
  ``earlgate bench rtc network`` on it.

Importing this package loads none of them.
"""
