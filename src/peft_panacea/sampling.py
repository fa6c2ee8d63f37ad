"""Preference vectors for training (random draws on the simplex) and evaluation (a deterministic grid)."""

from __future__ import annotations

import itertools
from typing import Literal

import numpy as np
import torch

SamplingMethod = Literal["uniform", "dirichlet", "vertex"]


def preference_grid(m: int, n: int) -> torch.Tensor:
    """The Das-Dennis lattice: every preference with coordinates in {0, 1/(n-1), ..., 1} that sums to 1.

    ``preference_grid(2, 11)`` is (0, 1), (0.1, 0.9), ..., (1, 0), ordered by increasing weight of the first
    objective. Returns a float32 tensor of shape (C(n+m-2, m-1), m).
    """
    if m < 2 or n < 2:
        raise ValueError(f"preference_grid needs m >= 2 objectives and n >= 2 points per axis, got m={m}, n={n}.")
    steps = n - 1
    points = [
        (*head, steps - sum(head)) for head in itertools.product(range(steps + 1), repeat=m - 1) if sum(head) <= steps
    ]
    return torch.tensor(points, dtype=torch.float32) / steps


class PreferenceSampler:
    """Draws preference vectors, reproducibly: draw ``i`` depends only on (seed, i, stream).

    Methods: ``"uniform"`` (Dirichlet(1), uniform on the simplex), ``"dirichlet"`` (Dirichlet(alpha); alpha < 1
    favours the corners), and ``"vertex"`` (the paper's bias towards corners: a one-hot vector with probability
    ``vertex_probability``, otherwise uniform). Processes that share a seed and call ``sample`` in the same order
    get the same vectors, so a per-batch preference agrees across ranks without communication; pass a different
    ``stream`` (e.g. the process index) for per-sample draws that must differ.
    """

    def __init__(
        self,
        pref_dim: int,
        method: SamplingMethod = "uniform",
        dirichlet_alpha: float = 1.0,
        vertex_probability: float = 0.3,
        seed: int = 0,
    ) -> None:
        if pref_dim < 2:
            raise ValueError(f"pref_dim must be >= 2, got {pref_dim}.")
        if method not in ("uniform", "dirichlet", "vertex"):
            raise ValueError(f"Unknown preference sampling {method!r}; use 'uniform', 'dirichlet' or 'vertex'.")
        if not dirichlet_alpha > 0:
            raise ValueError(f"dirichlet_alpha must be > 0, got {dirichlet_alpha}.")
        if not 0.0 <= vertex_probability <= 1.0:
            raise ValueError(f"vertex_probability must be in [0, 1], got {vertex_probability}.")
        self.pref_dim = pref_dim
        self.method = method
        self.alpha = dirichlet_alpha if method == "dirichlet" else 1.0
        self.vertex_probability = vertex_probability if method == "vertex" else 0.0
        self.seed = seed
        self.draws = 0

    def sample(
        self, batch_size: int | None = None, stream: int = 0, support: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One vector of shape (m,) or, with ``batch_size``, a (batch_size, m) tensor of independent draws.

        ``support`` (batch_size, m) bool restricts each row to the face of the simplex spanned by its True
        objectives (the same method on that face: Dirichlet on the kept coordinates, corners among them); a row
        with no True entry keeps the whole simplex.
        """
        rng = np.random.default_rng([self.seed, self.draws, stream])
        self.draws += 1
        rows = 1 if batch_size is None else batch_size
        prefs = rng.dirichlet([self.alpha] * self.pref_dim, size=rows)
        keep = None
        if support is not None:
            keep = support.detach().cpu().numpy().astype(bool).reshape(rows, self.pref_dim)
            keep[~keep.any(-1)] = True
            prefs = prefs * keep  # a Dirichlet restricted to a face and renormalised is that face's Dirichlet
            prefs /= prefs.sum(-1, keepdims=True)
        if self.vertex_probability > 0:
            corner = rng.random(rows) < self.vertex_probability
            if keep is None:
                index = rng.integers(self.pref_dim, size=rows)
            else:  # the k-th kept objective of each row, k uniform among the kept ones
                rank = np.floor(rng.random(rows) * keep.sum(-1)).astype(int)
                index = (np.cumsum(keep, -1) > rank[:, None]).argmax(-1)
            prefs = np.where(corner[:, None], np.eye(self.pref_dim)[index], prefs)
        out = torch.as_tensor(prefs, dtype=torch.float32)
        return out[0] if batch_size is None else out
