"""Pictures of fronts (matplotlib, no pyplot state): 2 objectives as a front coloured by the preference, 3 as
pairwise panels, more as parallel coordinates. Baseline fronts are overlaid, each in its own colour and marker.

Works on plain arrays so that it needs nothing from the rest of the package.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import cycle
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure


def plot_front(
    path: str | Path,
    points: np.ndarray,
    weights: np.ndarray,
    names: Sequence[str],
    baselines: dict[str, np.ndarray],
    label: str = "Panacea",
) -> None:
    """Save ``points`` (P, m), coloured by ``weights`` (P,) (the first objective's weight), as a PNG at ``path``.

    ``baselines`` maps a label to another front's points (Q, m). A bare ``Figure`` (not pyplot) leaves the
    caller's matplotlib backend and open figures alone.
    """
    m = points.shape[1]
    styles = cycle([(marker, f"C{i}") for i, marker in enumerate("sDv^<>P*", start=1)])
    if m == 2:
        fig = Figure(figsize=(6, 5))
        ax = fig.subplots()
        order = np.argsort(weights)
        ax.plot(points[order, 0], points[order, 1], color="0.7", zorder=1)
        scatter = ax.scatter(points[:, 0], points[:, 1], c=weights, cmap="viridis", s=60, zorder=2, label=label)
        fig.colorbar(scatter, ax=ax, label=f"weight of {names[0]}")
        for (name, other), (marker, colour) in zip(baselines.items(), styles, strict=False):
            ax.scatter(other[:, 0], other[:, 1], marker=marker, color=colour, label=name, zorder=2)
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        ax.legend(loc="best")
    elif m == 3:
        fig = Figure(figsize=(15, 4.5))
        axes = fig.subplots(1, 3)
        for ax, (a, b) in zip(axes, [(0, 1), (0, 2), (1, 2)], strict=True):
            ax.scatter(points[:, a], points[:, b], c=weights, cmap="viridis", s=40, label=label)
            for (name, other), (marker, colour) in zip(baselines.items(), styles, strict=False):
                ax.scatter(other[:, a], other[:, b], marker=marker, color=colour, label=name)
            ax.set_xlabel(names[a])
            ax.set_ylabel(names[b])
        axes[0].legend(loc="best")
    else:
        fig = Figure(figsize=(1.5 * m + 3, 4.5))
        ax = fig.subplots()
        low, high = points.min(0), points.max(0)
        span = np.where(high > low, high - low, 1.0)
        colours = matplotlib.colormaps["viridis"](weights)
        for row, colour in zip((points - low) / span, colours, strict=True):
            ax.plot(range(m), row, color=colour, alpha=0.8)
        for (name, other), (_, colour) in zip(baselines.items(), styles, strict=False):
            for row in (other - low) / span:
                ax.plot(range(m), row, color=colour, linestyle="--", label=name)
        ax.set_xticks(range(m), names, rotation=30)
        ax.set_ylabel("score, scaled to the Panacea front's range")
    fig.suptitle("Pareto front over the preference grid")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
