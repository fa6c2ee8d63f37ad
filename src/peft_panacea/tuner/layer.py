"""Panacea SVD-LoRA layers: ``y = W0 x + c * U diag(sigma, s * lambda) V^T x``."""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from peft.tuners.tuners_utils import BaseTunerLayer, check_adapters_to_merge
from peft.utils.other import transpose
from torch import nn

from ..compat.peft_compat import in_out_features
from .preference import PreferenceSnapshot, PreferenceState, is_per_sample

MergeRecord = tuple[torch.Tensor | None, torch.Tensor]


def _work_dtype(weight: torch.Tensor, delta: torch.Tensor) -> torch.dtype:
    return torch.promote_types(torch.promote_types(weight.dtype, delta.dtype), torch.float32)


def add_reversibly(weight: torch.Tensor, delta: torch.Tensor) -> tuple[torch.Tensor, MergeRecord]:
    """``weight + delta`` rounded once to ``weight``'s dtype, and the record that makes it reversible exactly.

    Subtracting ``delta`` again gives ``weight`` back at most elements, since both steps round by at most half a
    unit in the last place; where it does not (ties, a change of binade, a delta that swamps the weight) the
    original values are kept with their flat indices: about 1% of the elements when the update is 1% of the
    weight's size, in bf16, fp16 or fp32. When that would take more memory than a plain copy of the weight, the
    record is the copy.
    """
    work = _work_dtype(weight, delta)
    merged = (weight.to(work) + delta.to(work)).to(weight.dtype)
    back = (merged.to(work) - delta.to(work)).to(weight.dtype)
    wrong = (back != weight).flatten().nonzero().squeeze(1)
    index_dtype = torch.int32 if weight.numel() < 2**31 else torch.int64
    index_bytes = torch.empty((), dtype=index_dtype).element_size()
    if wrong.numel() * (index_bytes + weight.element_size()) >= weight.numel() * weight.element_size():
        return merged, (None, weight.clone())
    return merged, (wrong.to(index_dtype), weight.flatten()[wrong].clone())


def subtract_reversibly(merged: torch.Tensor, delta: torch.Tensor, record: MergeRecord) -> torch.Tensor:
    """The weight that :func:`add_reversibly` was given, from its result, the same ``delta`` and its record."""
    indices, values = record
    if indices is None:
        return values
    work = _work_dtype(merged, delta)
    back = (merged.to(work) - delta.to(work)).to(merged.dtype)
    back.view(-1)[indices] = values
    return back


def broken_merge_message(adapter_name: str) -> str:
    """PEFT's wording for a merge that would put NaN or inf into the base weights."""
    return (
        f"NaNs detected in the merged weights. The adapter {adapter_name} seems to be broken (the merged weight "
        "holds NaN or inf at the current preference)."
    )


class PreferenceDiagonal(nn.Module):
    """The learned part of the diagonal ``(sigma_1..sigma_r, s*lambda_1..s*lambda_m)``.

    ``weight`` holds the r learned singular values and ``pref_scale`` the learned scalar s. Kept as a leaf module
    with a ``.weight`` (not a ParameterDict entry) so that TRL's ``.default.`` -> ``.ref.`` adapter copy and PEFT's
    FSDP auto-wrap policy see it like a LoRA weight. It has no forward: every path (forward, merge, export) builds
    the scaled diagonal with :func:`diagonal_weights` times a preference factor, so they round alike.
    """

    def __init__(self, r: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(r))
        self.pref_scale = nn.Parameter(torch.zeros(1))


def diagonal_weights(sigma: torch.Tensor, pref_scale: torch.Tensor, pref_dim: int) -> torch.Tensor:
    """``(sigma_1..sigma_r, s, ..., s)``, s repeated m times: times a preference's ``(c, ..., c, c * lambda)``
    factor it is the scaled diagonal."""
    return torch.cat([sigma, pref_scale.expand(pref_dim)])


class _DiagonalCache:
    """One adapter's no-grad diagonal: ``weights`` = ``(sigma, s, ..., s)`` for the storage and versions in
    ``weight_key`` (``keep_alive`` holds that storage), and ``product`` = (snapshot, c, ``weights`` times that
    snapshot's factor for c), replaced whole so that a reader never mixes two preferences."""

    __slots__ = ("weight_key", "keep_alive", "weights", "product")

    def __init__(self, weight_key: tuple, keep_alive: tuple, weights: torch.Tensor) -> None:
        self.weight_key, self.keep_alive, self.weights = weight_key, keep_alive, weights
        self.product: tuple[PreferenceSnapshot, float, torch.Tensor] | None = None


class PanaceaLayer(BaseTunerLayer):
    """Adapter bookkeeping shared by Panacea layer types (one entry per adapter name in each dict)."""

    adapter_layer_names = ("panacea_A", "panacea_B", "panacea_E")
    other_param_names = ("r", "pref_dim", "scaling", "panacea_dropout", "panacea_pref")

    def __init__(self, base_layer: nn.Module, **kwargs: Any) -> None:
        self.base_layer = base_layer
        self.r: dict[str, int] = {}
        self.pref_dim: dict[str, int] = {}
        self.scaling: dict[str, float] = {}
        self.panacea_A = nn.ModuleDict({})
        self.panacea_B = nn.ModuleDict({})
        self.panacea_E = nn.ModuleDict({})
        self.panacea_dropout = nn.ModuleDict({})
        self.panacea_pref: dict[str, PreferenceState] = {}
        self._scaled_diagonal_cache: dict[str, _DiagonalCache] = {}  # adapter -> what scaled_diagonal reuses
        self.panacea_merge_records: dict[str, MergeRecord] = {}  # what unmerging needs, per merged adapter
        self.module_path = "?"  # set by the tuner on injection, for error messages
        self._disable_adapters = False
        self.merged_adapters: list[str] = []
        self.kwargs = kwargs
        in_features, out_features = in_out_features(self.get_base_layer())
        if in_features is None:
            raise TypeError(f"Panacea cannot adapt {type(self.get_base_layer()).__name__}: no in/out features.")
        self.in_features, self.out_features = in_features, out_features

    def update_layer(
        self,
        adapter_name: str,
        r: int,
        lora_alpha: float,
        lora_dropout: float,
        preference_state: PreferenceState,
        init_weights: bool | str = True,
        inference_mode: bool = False,
    ) -> None:
        """Create the weights of ``adapter_name``, initialised as ``init_weights`` says (see PanaceaConfig)."""
        m = preference_state.pref_dim
        self.r[adapter_name] = r
        self.pref_dim[adapter_name] = m
        self.scaling[adapter_name] = lora_alpha / r
        self.panacea_dropout[adapter_name] = nn.Dropout(p=lora_dropout) if lora_dropout > 0 else nn.Identity()
        self.panacea_A[adapter_name] = nn.Linear(self.in_features, r + m, bias=False)
        self.panacea_B[adapter_name] = nn.Linear(r + m, self.out_features, bias=False)
        self.panacea_E[adapter_name] = PreferenceDiagonal(r)
        self.panacea_pref[adapter_name] = preference_state
        self.reset_panacea_parameters(adapter_name, init_weights)
        self._move_adapter_to_device_of_base_layer(adapter_name)
        self.set_adapter(self.active_adapters, inference_mode=inference_mode)

    @torch.no_grad()
    def reset_panacea_parameters(self, adapter_name: str, init_weights: bool | str) -> None:
        """``True``: U = 0, V Kaiming, sigma = s = 1 (the update is 0, every direction has gradient); ``"paper"``:
        U, V ~ N(0, 0.02), sigma = s = 0; ``False``: every factor random and non-zero, for tests."""
        down, up, diag = self.panacea_A[adapter_name], self.panacea_B[adapter_name], self.panacea_E[adapter_name]
        if init_weights == "paper":
            nn.init.normal_(down.weight, mean=0.0, std=0.02)
            nn.init.normal_(up.weight, mean=0.0, std=0.02)
            nn.init.zeros_(diag.weight)
            nn.init.zeros_(diag.pref_scale)
        elif init_weights:
            nn.init.kaiming_uniform_(down.weight, a=math.sqrt(5))
            nn.init.zeros_(up.weight)
            nn.init.ones_(diag.weight)
            nn.init.ones_(diag.pref_scale)
        else:
            nn.init.kaiming_uniform_(down.weight, a=math.sqrt(5))
            nn.init.kaiming_uniform_(up.weight, a=math.sqrt(5))
            nn.init.uniform_(diag.weight, 0.5, 1.5)
            nn.init.uniform_(diag.pref_scale, 0.5, 1.5)

    def scaled_diagonal(self, adapter_name: str, pref: torch.Tensor | None = None) -> torch.Tensor:
        """``c * (sigma, s * lambda)`` at the current preference (or at ``pref``, never cached): what the unmerged
        forward multiplies by, and what merging and exporting use, so all three round alike.

        It is ``(sigma, s, ..., s)`` times the preference snapshot's factor ``(c, ..., c, c * lambda)``, which all
        layers share. Without autograd (generation, evaluation), ``(sigma, s, ..., s)`` is kept while sigma and s
        keep their storage and version counters (loads and in-place writes bump them) and no forward with autograd
        has run since (a fused optimiser step, transformers' default, bumps no counter, but always follows one);
        the product is kept while the snapshot (new with every preference) and c stay the same. A decoding step
        then pays one multiply per layer, as a LoRA pays its scaling, and the first step after ``set_preference``
        pays one more. The checks read plain dicts: ``nn.Module`` attribute lookups cost microseconds per layer.
        """
        snapshot = self.panacea_pref[adapter_name].snapshot() if pref is None else PreferenceSnapshot(pref)
        params = self._modules["panacea_E"]._modules[adapter_name]._parameters
        sigma, pref_scale = params["weight"], params["pref_scale"]
        scaling = self.scaling[adapter_name]
        if pref is not None:
            factor = snapshot.diagonal_factor(sigma.shape[0], scaling, sigma.device, sigma.dtype)
            return diagonal_weights(sigma, pref_scale, self.pref_dim[adapter_name]) * factor
        if torch.is_grad_enabled() or sigma.is_inference():  # inference tensors have no version counter
            # An optimiser step follows a training forward, and fused optimisers (transformers' default AdamW)
            # update weights without bumping their version counters: retire the cached diagonal here.
            self._scaled_diagonal_cache.pop(adapter_name, None)
            return diagonal_weights(sigma, pref_scale, self.pref_dim[adapter_name]) * snapshot.diagonal_factor(
                sigma.shape[0], scaling, sigma.device, sigma.dtype
            )
        weight_key = (sigma.data_ptr(), sigma._version, pref_scale.data_ptr(), pref_scale._version)
        cached = self._scaled_diagonal_cache.get(adapter_name)
        if cached is None or cached.weight_key != weight_key:
            # the detached tensors keep the weights' storage alive, so a replaced weight can never reuse its address
            weights = diagonal_weights(sigma, pref_scale, self.pref_dim[adapter_name])
            cached = _DiagonalCache(weight_key, (sigma.detach(), pref_scale.detach()), weights)
            self._scaled_diagonal_cache[adapter_name] = cached
        product = cached.product  # read once: threads with their own preferences may replace it meanwhile
        if product is not None and product[0] is snapshot and product[1] == scaling:
            return product[2]
        diag = cached.weights * snapshot.diagonal_factor(sigma.shape[0], scaling, sigma.device, sigma.dtype)
        cached.product = (snapshot, scaling, diag)
        return diag

    def get_delta_weight(self, adapter_name: str, pref: torch.Tensor | None = None) -> torch.Tensor:
        """``c * U diag V^T`` at one preference, in the base weight's layout (transposed for fan_in_fan_out)."""
        diag = self.scaled_diagonal(adapter_name, pref)
        if is_per_sample(diag):
            raise ValueError(
                f"Adapter '{adapter_name}' has a per-sample preference of shape {tuple(diag.shape[:-1])} rows; a "
                "merged or exported weight needs one preference vector. Call set_preference with a (m,) vector first."
            )
        up = self.panacea_B[adapter_name].weight
        down = self.panacea_A[adapter_name].weight
        delta = (up * diag) @ down
        return transpose(delta, self.fan_in_fan_out)

    def preference_directions(self, adapter_name: str) -> list[torch.Tensor]:
        """Views of the weights that only the preference reaches: the last m rows of V^T, the last m columns of U
        and s (what ``preference_lr_ratio`` trains faster)."""
        r = self.r[adapter_name]
        return [
            self.panacea_A[adapter_name].weight[r:],
            self.panacea_B[adapter_name].weight[:, r:],
            self.panacea_E[adapter_name].pref_scale,
        ]

    def lora_factors(self, adapter_name: str, pref: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(lora_A, lora_B)`` of the equivalent rank-(r+m) LoRA with scaling 1 at the current preference (or at
        ``pref``). ``lora_B`` is U whatever the preference, which makes a linear mix of such LoRAs exact."""
        diag = self.scaled_diagonal(adapter_name, pref)
        if is_per_sample(diag):
            raise ValueError("Exporting needs one preference vector, not a per-sample batch of preferences.")
        down = self.panacea_A[adapter_name].weight * diag.unsqueeze(-1)
        return down, self.panacea_B[adapter_name].weight

    def basis_factors(self, adapter_name: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``(lora_A, lora_B)`` pairs, scaling 1, of the preference-free shared rank-r LoRA ``c U_r diag(sigma)
        V_r^T`` and then of one rank-1 LoRA ``c s u_i v_i^T`` per objective: the update at lambda is the shared
        one plus the sum of lambda_i times the i-th rank-1 one."""
        r, c = self.r[adapter_name], self.scaling[adapter_name]
        down, up = self.panacea_A[adapter_name].weight, self.panacea_B[adapter_name].weight
        diag = self.panacea_E[adapter_name]
        pairs = [(down[:r] * (diag.weight * c).unsqueeze(-1), up[:, :r])]
        for i in range(r, down.shape[0]):
            pairs.append((down[i : i + 1] * (diag.pref_scale * c), up[:, i : i + 1]))
        return pairs


class PanaceaLinear(nn.Module, PanaceaLayer):
    """Panacea on ``nn.Linear`` or transformers' ``Conv1D``."""

    def __init__(
        self,
        base_layer: nn.Module,
        adapter_name: str,
        r: int,
        lora_alpha: float,
        lora_dropout: float,
        preference_state: PreferenceState,
        init_weights: bool | str = True,
        fan_in_fan_out: bool = False,
        inference_mode: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        PanaceaLayer.__init__(self, base_layer, **kwargs)
        self.fan_in_fan_out = fan_in_fan_out
        self._active_adapter = adapter_name
        self.update_layer(adapter_name, r, lora_alpha, lora_dropout, preference_state, init_weights, inference_mode)

    def merged_weight(self, adapter_name: str) -> tuple[torch.Tensor, MergeRecord]:
        """The base weight with ``adapter_name``'s update at the current preference added, and what unmerging it
        needs to give the weight back bit for bit (see :func:`add_reversibly`)."""
        return add_reversibly(self.get_base_layer().weight.data, self.get_delta_weight(adapter_name))

    def merge(self, safe_merge: bool = False, adapter_names: list[str] | None = None) -> None:
        """Add the update at the current preference to the base weight; the preference is then frozen."""
        adapter_names = check_adapters_to_merge(self, adapter_names)
        base_weight = self.get_base_layer().weight
        for name in adapter_names:
            if name not in self.panacea_A:
                continue
            merged, record = self.merged_weight(name)
            if safe_merge and not torch.isfinite(merged).all():
                raise ValueError(broken_merge_message(name))
            base_weight.data.copy_(merged)
            self.panacea_merge_records[name] = record
            self.panacea_pref[name].merged_layers += 1
            self.merged_adapters.append(name)

    def unmerge(self) -> None:
        """Give back the base weight as it was before merging, bit for bit, also in bf16/fp16: each merged update
        is subtracted at the preference it was merged with (the adapter's preference state refuses changes while
        any layer holds it merged), and the few elements the subtraction rounds differently are put back."""
        if not self.merged:
            warnings.warn("Already unmerged. Nothing to do.", stacklevel=2)
            return
        base_weight = self.get_base_layer().weight
        while self.merged_adapters:
            name = self.merged_adapters.pop()
            if name not in self.panacea_A:
                continue
            record = self.panacea_merge_records.pop(name)
            base_weight.data.copy_(subtract_reversibly(base_weight.data, self.get_delta_weight(name), record))
            self.panacea_pref[name].merged_layers -= 1

    def _adapter_output(self, x: torch.Tensor, adapter_name: str) -> torch.Tensor:
        down = self.panacea_A[adapter_name]
        if x.dtype != down.weight.dtype:  # the checks are skipped where they would change nothing: per-layer cost
            x = self._cast_input_dtype(x, down.weight.dtype)
        dropout = self.panacea_dropout[adapter_name]
        hidden = down(x if isinstance(dropout, nn.Identity) else dropout(x))
        diag = self.scaled_diagonal(adapter_name)  # scale r+m values, not the output
        if not is_per_sample(diag):
            return self.panacea_B[adapter_name](hidden * diag)
        if x.dim() < 2 or x.shape[0] != diag.shape[0]:
            raise ValueError(
                f"The per-sample preference has {diag.shape[0]} rows but layer '{self.module_path}' sees an input "
                f"of shape {tuple(x.shape)}, not one row per sample: pass one preference row per sample, or a "
                "single (m,) vector for the whole batch. A layer that sees the tokens of the whole batch flattened "
                "or routed (an MoE expert or shared expert) cannot take per-sample preferences: leave it out with "
                "`exclude_modules`."
            )
        diag = diag.view(diag.shape[0], *([1] * (hidden.dim() - 2)), diag.shape[-1])
        return self.panacea_B[adapter_name](hidden * diag)

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.disable_adapters:
            if self.merged:
                self.unmerge()
            return self.base_layer(x, *args, **kwargs)
        if self.merged:
            return self.base_layer(x, *args, **kwargs)
        result = self.base_layer(x, *args, **kwargs)
        previous_dtype = result.dtype
        for name in self.active_adapters:
            if name in self.panacea_A:
                result = result + self._adapter_output(x, name)
        return result.to(previous_dtype)

    def __repr__(self) -> str:
        return "panacea." + super().__repr__()
