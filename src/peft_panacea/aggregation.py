"""Scalarising m per-objective values with a preference vector.

Two conventions, both used by the trainers:
* losses (minimised; DPO, SFT): linear ``sum_i l_i L_i``, Tchebycheff ``max_i l_i (L_i - z_i)`` with an ideal
  point z below the losses, smooth Tchebycheff ``mu * log sum_i exp(l_i (L_i - z_i) / mu)``;
* rewards (maximised; GRPO, RLOO): the same functions applied to ``-J`` and ``-z``, negated, i.e. linear
  ``sum_i l_i J_i`` and Tchebycheff ``min_i l_i (J_i - z_i)`` with z the ideal (best) point.

Every function takes ``values`` and ``preference`` of shape (..., m) (broadcastable) and an optional boolean
``mask`` of the same shape: masked-out objectives (no label for them) are ignored. Returns shape (...).
"""

from __future__ import annotations

from typing import Literal

import torch

Aggregation = Literal["linear", "tchebycheff", "smooth_tchebycheff"]
AGGREGATIONS = ("linear", "tchebycheff", "smooth_tchebycheff")


def _weighted_gaps(values: torch.Tensor, preference: torch.Tensor, ideal: torch.Tensor | float) -> torch.Tensor:
    return preference * (values - torch.as_tensor(ideal, dtype=values.dtype, device=values.device))


def linear_scalarization(
    values: torch.Tensor, preference: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """``sum_i l_i v_i`` over the unmasked objectives."""
    weighted = preference * values
    if mask is not None:
        weighted = torch.where(mask, weighted, torch.zeros_like(weighted))
    return weighted.sum(-1)


def tchebycheff(
    values: torch.Tensor,
    preference: torch.Tensor,
    ideal: torch.Tensor | float = 0.0,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """``max_i l_i (v_i - z_i)`` over the unmasked objectives (loss convention); 0 where all are masked."""
    gaps = _weighted_gaps(values, preference, ideal)
    if mask is None:
        return gaps.amax(-1)
    gaps = torch.where(mask, gaps, torch.full_like(gaps, float("-inf")))
    best = gaps.amax(-1)
    return torch.where(mask.any(-1), best, torch.zeros_like(best))


def smooth_tchebycheff(
    values: torch.Tensor,
    preference: torch.Tensor,
    ideal: torch.Tensor | float = 0.0,
    mu: float = 0.1,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """``mu * logsumexp_i(l_i (v_i - z_i) / mu)``: a smooth upper bound of Tchebycheff (tends to it as mu -> 0)."""
    if not mu > 0:
        raise ValueError(f"smooth Tchebycheff needs mu > 0, got {mu}.")
    gaps = _weighted_gaps(values, preference, ideal) / mu
    if mask is None:
        return mu * torch.logsumexp(gaps, -1)
    gaps = torch.where(mask, gaps, torch.full_like(gaps, float("-inf")))
    smooth = mu * torch.logsumexp(gaps, -1)
    return torch.where(mask.any(-1), smooth, torch.zeros_like(smooth))


def aggregate(
    values: torch.Tensor,
    preference: torch.Tensor,
    method: Aggregation = "linear",
    ideal: torch.Tensor | float = 0.0,
    mu: float = 0.1,
    mask: torch.Tensor | None = None,
    maximize: bool = False,
) -> torch.Tensor:
    """Dispatch to one aggregation. ``maximize=True`` treats ``values`` and ``ideal`` as rewards."""
    if method not in AGGREGATIONS:
        raise ValueError(f"Unknown aggregation {method!r}; use one of {AGGREGATIONS}.")
    sign = -1.0 if maximize else 1.0
    values = sign * values
    ideal = sign * torch.as_tensor(ideal, dtype=values.dtype, device=values.device)
    if method == "linear":
        result = linear_scalarization(values, preference, mask)
    elif method == "tchebycheff":
        result = tchebycheff(values, preference, ideal, mask)
    else:
        result = smooth_tchebycheff(values, preference, ideal, mu, mask)
    return sign * result
