"""Scale-out: hub workers behind HAProxy, joined through Redis (thesis section 2.4.4-2.4.5)."""

from __future__ import annotations

from earlgate.cluster.haproxy import HaproxySettings, render
from earlgate.cluster.runner import Cluster, ClusterError, ClusterSpec

__all__ = ["Cluster", "ClusterError", "ClusterSpec", "HaproxySettings", "render"]
