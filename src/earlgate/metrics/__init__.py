"""What the hub, the signaling server, the gateway and the benches measure, and how it is shown.

:mod:`~earlgate.metrics.histogram`: the log-linear latency histogram recorded
on every message (pure, standard library only). :mod:`~earlgate.metrics.exposition`:
the Prometheus text format through ``prometheus-client`` (histogram buckets,
labelled counters, registries, rendering), read only when scraped.
:mod:`~earlgate.metrics.percentile`: the one nearest-rank percentile of a list
of values that every report and live view prints.
"""

from __future__ import annotations

from earlgate.metrics.histogram import Histogram

__all__ = ["Histogram"]
