"""The benches' figures: matplotlib without a display, each figure saved and closed alike.

Imported inside each ``plot`` function, so a bench command that draws
nothing does not load matplotlib.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: the figures are files

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

__all__ = ["plt", "save"]


def save(figure: Figure, path: Path, dpi: int = 110, **options: Any) -> None:
    """Write ``figure`` to ``path`` and free it (pyplot keeps every open figure)."""
    figure.savefig(path, dpi=dpi, **options)
    plt.close(figure)
