"""The Pareto front a model spans over a grid of preferences, and its quality metrics.

Metrics follow the paper (arXiv 2402.02030, section 5): hypervolume (moocore, maximisation, explicit reference
point), inner product, sparsity and spacing, plus monotonicity: the Spearman correlation between each objective's
weight and its score across the grid.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import moocore
import numpy as np
from scipy.stats import spearmanr

from .plotting import plot_front

RewardFn = Callable[..., list[float]]


@dataclass
class FrontResult:
    """Scores of one model over a grid of preferences.

    Attributes:
        preferences: (P, m) the preference vectors evaluated.
        objectives: (P, m) mean score of each objective at each preference (the front).
        per_prompt: (P, n_prompts, m) every score.
        objective_names: the m objective names.
        reference_point: the hypervolume reference point, set by ``hypervolume`` and saved with the result.
        completions: (P, n_prompts) generated texts.
    """

    preferences: np.ndarray
    objectives: np.ndarray
    per_prompt: np.ndarray
    objective_names: list[str]
    reference_point: np.ndarray | None = None
    completions: list[list[str]] = field(default_factory=list)

    def hypervolume(self, reference_point: Sequence[float]) -> float:
        """Hypervolume dominated by the front (maximisation) above ``reference_point``, which is stored."""
        ref = np.asarray(reference_point, dtype=float)
        if ref.shape != (self.objectives.shape[1],):
            raise ValueError(f"reference_point needs {self.objectives.shape[1]} values, got {ref.tolist()}.")
        self.reference_point = ref
        return float(moocore.hypervolume(self.objectives, ref=ref, maximise=True))

    def inner_product(self) -> float:
        """Mean over the grid of <preference, scores>: do solutions move towards their own preference?"""
        return float(np.mean(np.sum(self.preferences * self.objectives, axis=1)))

    def sparsity(self) -> float:
        """Mean squared gap between neighbours along each objective, sorted (PGMORL's definition, divided by m)."""
        points, m = self.objectives, self.objectives.shape[1]
        if len(points) < 2:
            return 0.0
        gaps = np.diff(np.sort(points, axis=0), axis=0)
        return float(np.sum(gaps**2) / (m * (len(points) - 1)))

    def spacing(self) -> float:
        """Schott's spacing: standard deviation of each point's distance to its nearest neighbour (Euclidean)."""
        points = self.objectives
        if len(points) < 2:
            return 0.0
        distances = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)
        np.fill_diagonal(distances, np.inf)
        nearest = distances.min(axis=1)
        return float(np.sqrt(np.mean((nearest - nearest.mean()) ** 2)))

    def monotonicity(self) -> dict[str, float]:
        """Per objective, Spearman correlation of its weight with its score over the grid.

        1 means the score rises with the weight at every step. On grids whose weights repeat (m >= 3) ties cap it
        below 1 even for a perfectly ordered front (0.669 for ``preference_grid(10, 3)``); evaluate on distinct
        preferences to compare against 1.
        """
        result = {}
        for i, name in enumerate(self.objective_names):
            weights, scores = self.preferences[:, i], self.objectives[:, i]
            if np.ptp(weights) == 0 or np.ptp(scores) == 0:
                result[name] = 0.0  # a constant score does not follow its weight at all
                continue
            result[name] = float(spearmanr(weights, scores).statistic)
        return result

    def metrics(self, reference_point: Sequence[float] | None = None) -> dict[str, Any]:
        ref = self.reference_point if reference_point is None else reference_point
        out: dict[str, Any] = {
            "inner_product": self.inner_product(),
            "sparsity": self.sparsity(),
            "spacing": self.spacing(),
            "monotonicity": self.monotonicity(),
        }
        if ref is not None:
            out["hypervolume"] = self.hypervolume(ref)
            out["reference_point"] = np.asarray(ref, dtype=float).tolist()
        return out

    def to_json(
        self, path: str | Path, reference_point: Sequence[float] | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        """Write the front, its metrics and completions as strict JSON; ``extra`` adds top-level entries (the demo
        adds the untrained model's scores)."""
        data = {
            "objective_names": self.objective_names,
            "preferences": self.preferences.tolist(),
            "objectives": self.objectives.tolist(),
            "metrics": self.metrics(reference_point),
            "per_prompt": self.per_prompt.tolist(),
            "completions": self.completions,
            **(extra or {}),
        }
        Path(path).write_text(json.dumps(data, indent=2, allow_nan=False))  # strict JSON: no NaN, no Infinity

    def plot(
        self, path: str | Path, baselines: dict[str, FrontResult | np.ndarray] | None = None, label: str = "Panacea"
    ) -> None:
        """Save the front as a PNG: 2-D scatter coloured by the first weight, 3-D panels, or parallel coordinates."""
        others = {name: _points(front) for name, front in (baselines or {}).items()}
        plot_front(path, self.objectives, self.preferences[:, 0], self.objective_names, others, label)


def _points(front: FrontResult | np.ndarray) -> np.ndarray:
    return np.asarray(front.objectives if hasattr(front, "objectives") else front, dtype=float)


def format_table(result: FrontResult, base: FrontResult | None = None) -> str:
    """The front as a text table (one row per preference, then the untrained model's row when ``base`` is given)
    followed by its metrics, as the CLI prints it."""
    names = result.objective_names
    lines = [f"{'preference':>14} | " + " | ".join(f"{n:>11}" for n in names)]
    for pref, scores in zip(result.preferences, result.objectives, strict=True):
        label = "(" + ", ".join(f"{w:.1f}" for w in pref) + ")"
        lines.append(f"{label:>14} | " + " | ".join(f"{s:11.3f}" for s in scores))
    if base is not None:
        lines.append(f"{'base model':>14} | " + " | ".join(f"{s:11.3f}" for s in base.objectives[0]))
    metrics = result.metrics()
    lines.append(
        f"hypervolume {metrics['hypervolume']:.4f} (reference {metrics['reference_point']}), "
        f"inner product {metrics['inner_product']:.4f}, sparsity {metrics['sparsity']:.5f}, "
        f"spacing {metrics['spacing']:.5f}"
    )
    lines.append(
        "monotonicity (Spearman of weight vs score): "
        + ", ".join(f"{name} {rho:.2f}" for name, rho in metrics["monotonicity"].items())
    )
    return "\n".join(lines)
