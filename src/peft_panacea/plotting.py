"""Pictures of fronts (matplotlib, Agg backend): 2 objectives as a front coloured by the preference, 3 as pairwise
panels, more as parallel coordinates. Baseline fronts are overlaid, each in its own colour and marker."""

from __future__ import annotations

from itertools import cycle
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .evaluation import FrontResult


def _points(front: Any) -> np.ndarray:
    return np.asarray(front.objectives if hasattr(front, "objectives") else front, dtype=float)


def plot_front(result: FrontResult, path: str | Path, baselines: dict[str, Any], label: str = "Panacea") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, points, weights = result.objective_names, result.objectives, result.preferences[:, 0]
    m = points.shape[1]
    styles = cycle([(marker, f"C{i}") for i, marker in enumerate("sDv^<>P*", start=1)])
    if m == 2:
        fig, ax = plt.subplots(figsize=(6, 5))
        order = np.argsort(weights)
        ax.plot(points[order, 0], points[order, 1], color="0.7", zorder=1)
        scatter = ax.scatter(points[:, 0], points[:, 1], c=weights, cmap="viridis", s=60, zorder=2, label=label)
        fig.colorbar(scatter, ax=ax, label=f"weight of {names[0]}")
        for (name, front), (marker, colour) in zip(baselines.items(), styles, strict=False):
            other = _points(front)
            ax.scatter(other[:, 0], other[:, 1], marker=marker, color=colour, label=name, zorder=2)
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        ax.legend(loc="best")
    elif m == 3:
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
        for ax, (a, b) in zip(axes, [(0, 1), (0, 2), (1, 2)], strict=True):
            ax.scatter(points[:, a], points[:, b], c=weights, cmap="viridis", s=40, label=label)
            for (name, front), (marker, colour) in zip(baselines.items(), styles, strict=False):
                other = _points(front)
                ax.scatter(other[:, a], other[:, b], marker=marker, color=colour, label=name)
            ax.set_xlabel(names[a])
            ax.set_ylabel(names[b])
        axes[0].legend(loc="best")
    else:
        fig, ax = plt.subplots(figsize=(1.5 * m + 3, 4.5))
        low, high = points.min(0), points.max(0)
        span = np.where(high > low, high - low, 1.0)
        colours = plt.cm.viridis(weights)
        for row, colour in zip((points - low) / span, colours, strict=True):
            ax.plot(range(m), row, color=colour, alpha=0.8)
        for (name, front), (_, colour) in zip(baselines.items(), styles, strict=False):
            for row in (_points(front) - low) / span:
                ax.plot(range(m), row, color=colour, linestyle="--", label=name)
        ax.set_xticks(range(m), names, rotation=30)
        ax.set_ylabel("score, scaled to the Panacea front's range")
    fig.suptitle("Pareto front over the preference grid")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
