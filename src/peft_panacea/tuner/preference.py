"""Preference vectors: validation of user input and the runtime state shared by all layers of one adapter.

The preference is runtime state, not a parameter or buffer: it must never be saved with the weights, and DDP would
overwrite a buffer with rank 0's value on every forward. One :class:`PreferenceState` object is shared by every
layer of an adapter, so switching the preference is O(1) in model depth; a per-call preference lives in a context
variable, so it is scoped to its own thread or asyncio task.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

import numpy as np
import torch

PreferenceLike = Sequence[float] | np.ndarray | torch.Tensor | Mapping[str, float]

SUM_TOLERANCE = 1e-4
_MAX_SHOWN = 5


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
    tolerance = sum_tolerance(pref, pref_dim)
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
    off = ((sums - 1).abs() > tolerance).flatten()
    if off.any():
        shown = [round(v, 4) for v in sums.flatten()[off].tolist()]
        if is_per_sample(tensor):
            rows = off.nonzero().flatten().tolist()
            more = f" and {len(rows) - _MAX_SHOWN} more" if len(rows) > _MAX_SHOWN else ""
            where = f"Rows {rows[:_MAX_SHOWN]}{more} of the preference sum to {shown[:_MAX_SHOWN]}"
        else:
            where = f"Preference sums to {shown[0]}"
        raise ValueError(
            f"{where} instead of 1 (tolerance {tolerance:.3g}). "
            "Pass weights on the simplex, or call with normalize=True to rescale them."
        )
    return tensor


def sum_tolerance(pref: Any, pref_dim: int) -> float:
    """How far from 1 the sum of ``pref`` may be: 1e-4, or the rounding of ``pref_dim`` weights in a half-precision
    input (``preference_grid(3, 11).half()`` has rows summing to 1 +- 2.4e-3)."""
    if isinstance(pref, torch.Tensor) and pref.is_floating_point():
        resolution = torch.finfo(pref.dtype).eps
    elif isinstance(pref, np.ndarray) and np.issubdtype(pref.dtype, np.floating):
        resolution = float(np.finfo(pref.dtype).eps)
    else:
        return SUM_TOLERANCE
    return max(SUM_TOLERANCE, pref_dim * resolution)


class PreferenceSnapshot:
    """One preference tensor and what layers derive from it, made once per value instead of once per layer: its
    copies per (device, dtype), and the factors that scale each layer's diagonal."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor
        self.converted: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}
        self.factors: dict[tuple[int, float, torch.device, torch.dtype], torch.Tensor] = {}

    def on(self, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        key = (device, dtype)
        if key not in self.converted:  # two threads may both convert: same result, either copy is kept
            # never an inference tensor: a conversion first made under inference_mode must still serve training
            with torch.inference_mode(False):
                converted = self.tensor.to(device=device, dtype=dtype)
                self.converted[key] = converted.clone() if converted.is_inference() else converted
        return self.converted[key]

    def diagonal_factor(self, r: int, scaling: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """``(c, ..., c, c * lambda_1, ..., c * lambda_m)`` (r times c), shape (r+m,) or (batch, r+m): times a layer's
        ``(sigma, s, ..., s)`` it gives the scaled diagonal, so a new preference costs each layer one multiply."""
        key = (r, scaling, device, dtype)
        if key not in self.factors:
            pref = self.on(device, dtype)
            with torch.inference_mode(False):
                shared = torch.full((*pref.shape[:-1], r), scaling, device=device, dtype=dtype)
                self.factors[key] = torch.cat([shared, pref * scaling], dim=-1)
        return self.factors[key]


# Call-scoped preferences (``preference=`` on forward/generate, ``with model.preference(...)``) of the current
# thread or asyncio task, by adapter state. A new thread starts with none, so a thread pool of calls at different
# preferences never sees another call's preference; the shared value is never written by them.
_CALL_SCOPED: ContextVar[Mapping[PreferenceState, PreferenceSnapshot]] = ContextVar(
    "peft_panacea_call_scoped_preferences", default=MappingProxyType({})
)


class PreferenceState:
    """The preference of one adapter, shared by reference between the model and all of its layers.

    ``value`` is what the current call sees: the call-scoped preference of this thread (or asyncio task) when one
    is set with :meth:`call_scoped`, otherwise the shared one, which ``set_preference`` sets for every thread.

    Thread safety: call-scoped preferences are per thread, so concurrent forward/generate calls that each pass
    their own preference are safe. Setting the shared value while another thread runs a forward is not: that
    forward may read the old value in some layers and the new one in others. Merging, unmerging and training
    change shared state and are not thread-safe either.

    ``merged_layers`` counts layers whose base weight currently holds this adapter merged at ``value``; while it is
    non-zero the preference cannot change (shared or call-scoped), because merged weights would silently keep the
    old one.
    """

    def __init__(self, adapter_name: str, pref_dim: int, names: Sequence[str] | None, initial: torch.Tensor):
        self.adapter_name = adapter_name
        self.pref_dim = pref_dim
        self.names = list(names) if names else None
        self.merged_layers = 0
        self._shared = PreferenceSnapshot(initial)

    def snapshot(self) -> PreferenceSnapshot:
        """What the current call sees, as an object that is new whenever that preference changes (shared or
        call-scoped), so a layer can key a cache on its identity."""
        return _CALL_SCOPED.get().get(self, self._shared)

    @property
    def value(self) -> torch.Tensor:
        return self.snapshot().tensor

    @value.setter
    def value(self, tensor: torch.Tensor) -> None:
        self._refuse_while_merged()
        if self.is_call_scoped:
            raise RuntimeError(
                f"Cannot set the preference of adapter '{self.adapter_name}' for every thread from inside a "
                "`with model.preference(...)` block or a call with `preference=`: the block's own preference would "
                "hide it until the block ends. Set it before or after the block."
            )
        self._shared = PreferenceSnapshot(tensor)

    @property
    def is_call_scoped(self) -> bool:
        """Whether the current thread (or asyncio task) is inside a call-scoped preference of this adapter."""
        return self in _CALL_SCOPED.get()

    @contextmanager
    def call_scoped(self, tensor: torch.Tensor) -> Iterator[None]:
        """Use ``tensor`` (already validated) in this thread / asyncio task only, until the block ends."""
        self._refuse_while_merged()
        token = _CALL_SCOPED.set(MappingProxyType({**_CALL_SCOPED.get(), self: PreferenceSnapshot(tensor)}))
        try:
            yield
        finally:
            _CALL_SCOPED.reset(token)

    def _refuse_while_merged(self) -> None:
        if self.merged_layers:
            raise RuntimeError(
                f"Adapter '{self.adapter_name}' is merged into the base weights at preference "
                f"{self._shared.tensor.tolist()}; changing it now would leave stale merged weights. "
                "Call `model.unmerge_adapter()` first, then set the new preference."
            )

    @property
    def is_per_sample(self) -> bool:
        return is_per_sample(self.value)

    def validate(self, pref: PreferenceLike, normalize: bool = False) -> torch.Tensor:
        return validate_preference(pref, self.pref_dim, self.names, normalize)

    def on(self, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """The current preference on ``device``/``dtype``, converted once per value instead of once per layer."""
        return self.snapshot().on(device, dtype)
