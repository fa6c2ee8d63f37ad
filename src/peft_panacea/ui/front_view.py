"""The front of ``front.json`` as a picture, with the measured point nearest the page's preference marked.

The marked point is a measurement, not an interpolation: front.json holds the front at its grid preferences, and
the page marks the one closest (Euclidean) to the current normalised preference.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure


@dataclass
class Front:
    """The preferences (P, m), mean objectives (P, k) and objective names read from a front.json."""

    preferences: np.ndarray
    objectives: np.ndarray
    names: list[str]

    @classmethod
    def read(cls, path: str | Path) -> Front:
        """Parse ``path``; a ValueError names what is missing or misshapen."""
        try:
            data = json.loads(Path(path).read_text())
            preferences = np.asarray(data["preferences"], dtype=float)
            objectives = np.asarray(data["objectives"], dtype=float)
            names = [str(n) for n in data["objective_names"]]
        except (KeyError, TypeError, json.JSONDecodeError) as err:
            raise ValueError(f"'{path}' is not a front.json written by panacea demo/eval ({err!r})") from err
        if preferences.ndim != 2 or objectives.shape != (len(preferences), len(names)) or len(names) < 2:
            raise ValueError(
                f"'{path}' has preferences of shape {preferences.shape} and objectives of shape {objectives.shape} "
                f"for {len(names)} objective names; expected (P, m) and (P, {len(names)}) with at least 2 objectives"
            )
        return cls(preferences, objectives, names)

    def nearest(self, preference: Sequence[float]) -> int:
        """Index of the grid preference closest to ``preference``."""
        return int(np.argmin(np.linalg.norm(self.preferences - np.asarray(preference), axis=1)))

    def figure(self, preference: Sequence[float]) -> Figure:
        """The first two objectives, each point coloured by its first weight, the nearest one to ``preference``
        circled in red and labelled with its grid preference."""
        fig = Figure(figsize=(5.5, 4.2))
        ax = fig.subplots()
        x, y = self.objectives[:, 0], self.objectives[:, 1]
        order = np.argsort(self.preferences[:, 0])
        ax.plot(x[order], y[order], color="0.75", zorder=1)
        dots = ax.scatter(x, y, c=self.preferences[:, 0], cmap="viridis", s=45, zorder=2)
        fig.colorbar(dots, ax=ax, label=f"weight of {self.names[0]}")
        i = self.nearest(preference)
        label = ", ".join(f"{w:.2f}" for w in self.preferences[i])
        ax.scatter([x[i]], [y[i]], s=260, facecolors="none", edgecolors="red", linewidths=2, zorder=3)
        ax.annotate(f"({label})", (x[i], y[i]), textcoords="offset points", xytext=(8, 8), color="red")
        ax.set_xlabel(self.names[0])
        ax.set_ylabel(self.names[1])
        shown = "" if len(self.names) == 2 else f" (first 2 of {len(self.names)} objectives)"
        ax.set_title(f"measured front{shown}; red: nearest to the current preference", fontsize=9)
        fig.tight_layout()
        return fig
