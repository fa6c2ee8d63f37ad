"""Preference vectors: validation of user input and the runtime state shared by all layers of one adapter.

The preference is runtime state, not a parameter or buffer: it must never be saved with the weights, and DDP would
overwrite a buffer with rank 0's value on every forward. One :class:`PreferenceState` object is shared by every
layer of an adapter, so switching the preference is O(1) in model depth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

PreferenceLike = Sequence[float] | np.ndarray | torch.Tensor | Mapping[str, float]

SUM_TOLERANCE = 1e-4


def is_per_sample(pref: torch.Tensor) -> bool:
    """Whether ``pref`` (or a diagonal built from it) has one row per sample, shape (batch, m), rather than one
    vector (m,) for the whole batch: the single test for "per-sample" used throughout the package."""
    return pref.dim() == 2


def _describe(pref_dim: int, names: Sequence[str] | None) -> str:
    if names:
        return f"pref_dim={pref_dim} (objectives: {', '.join(names)})"
    return f"pref_dim={pref_dim}"


def _from_mapping(pref: Mapping[str, Any], pref_dim: int, names: Sequence[str] | None) -> list[float]:
    if not names:
        raise ValueError(
            "A preference dict needs `preference_names` in the PanaceaConfig; this adapter has none. "
            f"Pass a sequence of {pref_dim} weights instead."
        )
    unknown = sorted(set(pref) - set(names))
    missing = [n for n in names if n not in pref]
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"unknown names {unknown}")
        if missing:
            parts.append(f"missing names {missing}")
        raise ValueError(f"Preference dict has {' and '.join(parts)}; expected exactly the keys {list(names)}.")
    return [float(pref[n]) for n in names]


def validate_preference(
    pref: PreferenceLike,
    pref_dim: int,
    names: Sequence[str] | None = None,
    normalize: bool = False,
) -> torch.Tensor:
    """Check ``pref`` and return it as a float32 tensor of shape ``(m,)`` or ``(batch, m)`` on the simplex.

    Raises ``ValueError`` naming the problem and the fix for a wrong shape, non-finite, negative or all-zero
    weights, and (unless ``normalize=True``) weights that do not sum to 1.
    """
    if isinstance(pref, Mapping):
        pref = _from_mapping(pref, pref_dim, names)
    if isinstance(pref, torch.Tensor):
        # a copy, never a view of the caller's tensor: editing it later must not bypass these checks
        tensor = pref.detach().to(device="cpu", dtype=torch.float32, copy=True)
    else:
        try:
            tensor = torch.as_tensor(np.asarray(pref, dtype=np.float64), dtype=torch.float32)
        except (TypeError, ValueError) as err:
            raise ValueError(f"Preference must be numeric, got {pref!r}.") from err
    what = _describe(pref_dim, names)
    if tensor.dim() not in (1, 2):
        raise ValueError(
            f"Preference must have shape (m,) or (batch, m), got shape {tuple(tensor.shape)}; the adapter has {what}."
        )
    if tensor.shape[-1] != pref_dim:
        raise ValueError(
            f"Preference has length {tensor.shape[-1]} but the adapter has {what}: pass {pref_dim} weights "
            "(one per objective)."
        )
    if is_per_sample(tensor) and tensor.shape[0] == 0:
        raise ValueError("Per-sample preference has 0 rows; pass at least one row.")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"Preference contains NaN or infinite values: {tensor.tolist()}. Pass finite weights.")
    if (tensor < 0).any():
        raise ValueError(f"Preference contains negative weights: {tensor.tolist()}. Weights must be >= 0.")
    sums = tensor.sum(-1, keepdim=True)
    if (sums == 0).any():
        raise ValueError("Preference is all zeros; at least one objective needs a positive weight.")
    if normalize:
        return tensor / sums
    if ((sums - 1).abs() > SUM_TOLERANCE).any():
        shown = [round(v, 4) for v in sums.flatten().tolist()]
        total = shown if is_per_sample(tensor) else shown[0]
        raise ValueError(
            f"Preference sums to {total} instead of 1 (tolerance {SUM_TOLERANCE}). "
            "Pass weights on the simplex, or call with normalize=True to rescale them."
        )
    return tensor


class PreferenceState:
    """The preference of one adapter, shared by reference between the model and all of its layers.

    ``merged_layers`` counts layers whose base weight currently holds this adapter merged at ``value``; while it is
    non-zero the preference cannot change, because merged weights would silently keep the old one. This lock is
    the one record of the merged preference: unmerging subtracts the update at ``value``, which it keeps frozen.
    """

    def __init__(self, adapter_name: str, pref_dim: int, names: Sequence[str] | None, initial: torch.Tensor):
        self.adapter_name = adapter_name
        self.pref_dim = pref_dim
        self.names = list(names) if names else None
        self.merged_layers = 0
        self._cache: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}
        self.value = initial

    @property
    def value(self) -> torch.Tensor:
        return self._value

    @value.setter
    def value(self, tensor: torch.Tensor) -> None:
        if self.merged_layers:
            raise RuntimeError(
                f"Adapter '{self.adapter_name}' is merged into the base weights at preference "
                f"{self._value.tolist()}; changing it now would leave stale merged weights. "
                "Call `model.unmerge_adapter()` first, then set the new preference."
            )
        self._value = tensor
        self._cache = {}

    @property
    def is_per_sample(self) -> bool:
        return is_per_sample(self._value)

    def validate(self, pref: PreferenceLike, normalize: bool = False) -> torch.Tensor:
        return validate_preference(pref, self.pref_dim, self.names, normalize)

    def on(self, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """The preference on ``device``/``dtype``, converted once per value instead of once per layer."""
        key = (device, dtype)
        if key not in self._cache:
            # never an inference tensor: a conversion first made under inference_mode must still serve training
            with torch.inference_mode(False):
                converted = self._value.to(device=device, dtype=dtype)
                self._cache[key] = converted.clone() if converted.is_inference() else converted
        return self._cache[key]
