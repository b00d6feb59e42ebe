"""Lets this suite's tests import their helper module by name."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
