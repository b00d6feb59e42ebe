"""The package's public names, and what importing it costs."""

from __future__ import annotations

import subprocess
import sys

import earlgate.led


def test_every_exported_name_exists_once() -> None:
    names = earlgate.led.__all__
    assert len(names) == len(set(names))
    missing = [name for name in names if not hasattr(earlgate.led, name)]
    assert missing == []


def test_importing_the_driver_leaves_the_network_stack_out() -> None:
    # A gateway that only drives the chip should not load the hub client (picows).
    code = (
        "import sys, earlgate.led; print('picows' in sys.modules, 'earlgate.client' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
