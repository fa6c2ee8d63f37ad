"""``PanaceaConfig``: the hyper-parameters of a Panacea SVD-LoRA adapter."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from peft.config import PeftConfig

from ._peft_type import PANACEA
from .checks import check_saved_rank, hub_kwargs, saved_weight_shapes
from .preference import is_per_sample, validate_preference

PAPER_LORA_ALPHA = 512  # with r = 8: the paper's multiplier c = 64


def _is_integer(value: object) -> bool:
    """An int or a numpy integer, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_finite_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class PanaceaConfig(PeftConfig):
    """Configuration of a Panacea adapter (arXiv 2402.02030).

    Every adapted weight becomes ``W0 + c * U diag(sigma_1..sigma_r, s*lambda_1..s*lambda_m) V^T`` with ``c =
    lora_alpha / r``: ``r`` learned singular values, one learned scale ``s`` per layer, and the user's preference
    vector ``lambda`` (``pref_dim`` weights on the simplex) as the last ``m`` singular values.

    Args:
        r: Number k of learned, preference-agnostic singular values. Not the rank, unlike LoRA's ``r``: each
            adapted weight gets a rank-``rank`` update, ``rank = r + pref_dim``.
        pref_dim: Number m >= 2 of objectives, i.e. the length of the preference vector.
        preference_names: Optional unique names of the m objectives, in order; enables dict preferences.
        lora_alpha: Scaling numerator; the update is multiplied by ``lora_alpha / r``. Default: ``2 * r`` (c = 2, as
            a LoRA of alpha 2r) with the default initialisation, 512 (the paper's c = 64 for r = 8, which suits its
            small N(0, 0.02) factors) with ``init_panacea_weights="paper"``.
        init_panacea_weights: How a new adapter starts. ``True`` (default): like LoRA, U = 0, V Kaiming-uniform,
            sigma = s = 1, so the update is 0 but every direction, the preference ones included, gets gradient
            from the first step. ``"paper"``: the paper's U, V ~ N(0, 0.02) and sigma = s = 0 (the update is 0
            and U, V only move once sigma or s have left 0). ``False``: random, non-zero (for tests).
        lora_dropout: Dropout on the adapter input.
        target_modules: Module names (suffix match), a regex, or ``"all-linear"``. ``None`` picks all attention and
            MLP projections for known architectures and ``"all-linear"`` otherwise.
        exclude_modules: Module names or regex to skip.
        layers_to_transform: Layer indices to adapt (with ``layers_pattern`` when needed).
        layers_pattern: Name of the layer list, e.g. ``"layers"`` or ``"h"``.
        modules_to_save: Extra modules trained in full and saved with the adapter.
        fan_in_fan_out: True for weights stored (in, out), e.g. GPT-2's ``Conv1D``; set automatically.
        init_preference: Preference used until ``set_preference`` is called (a sequence, or a dict keyed by
            ``preference_names``); default uniform.
        orth_reg_weight: Weight of the orthogonality penalty on U and V (0 disables it).
        bias: Only ``"none"`` is supported.
    """

    r: int = field(default=8, metadata={"help": "Number of learned singular values (k)."})
    pref_dim: int | None = field(default=None, metadata={"help": "Number of objectives m (>= 2). Required."})
    preference_names: list[str] | None = field(default=None, metadata={"help": "Names of the m objectives."})
    lora_alpha: float | None = field(
        default=None, metadata={"help": "Scaling numerator: c = lora_alpha / r (default 2r; 512 for 'paper')."}
    )
    init_panacea_weights: bool | Literal["paper"] = field(
        default=True,
        metadata={"help": "True: LoRA-style (U = 0, sigma = s = 1); 'paper': sigma = s = 0; False: random."},
    )
    lora_dropout: float = field(default=0.0, metadata={"help": "Dropout on the adapter input."})
    target_modules: list[str] | str | None = field(
        default=None, metadata={"help": "Module names or regex to adapt, or 'all-linear'."}
    )
    exclude_modules: list[str] | str | None = field(
        default=None, metadata={"help": "Module names or regex to exclude."}
    )
    layers_to_transform: list[int] | int | None = field(default=None, metadata={"help": "Layer indices to adapt."})
    layers_pattern: list[str] | str | None = field(
        default=None, metadata={"help": "Layer list name used with layers_to_transform."}
    )
    modules_to_save: list[str] | None = field(
        default=None, metadata={"help": "Modules besides the adapter layers to train and save."}
    )
    fan_in_fan_out: bool = field(default=False, metadata={"help": "True for (in, out) weights such as Conv1D."})
    init_preference: list[float] | None = field(
        default=None, metadata={"help": "Initial preference; default uniform."}
    )
    orth_reg_weight: float = field(default=0.0, metadata={"help": "Weight of the orthogonality penalty."})
    bias: str = field(default="none", metadata={"help": "Bias handling; only 'none'."})

    def __post_init__(self) -> None:
        super().__post_init__()
        self.peft_type = PANACEA
        if self.lora_alpha is None:
            self.lora_alpha = PAPER_LORA_ALPHA if self.init_panacea_weights == "paper" else 2 * self.r
        self._check()
        if isinstance(self.target_modules, (list, tuple)):
            self.target_modules = set(self.target_modules)
        if isinstance(self.exclude_modules, (list, tuple)):
            self.exclude_modules = set(self.exclude_modules)
        if self.init_preference is None:
            self.init_preference = [1.0 / self.pref_dim] * self.pref_dim
        else:
            pref = validate_preference(self.init_preference, self.pref_dim, self.preference_names)
            if is_per_sample(pref):
                raise ValueError("`init_preference` must be a single vector of length pref_dim, not a batch.")
            if isinstance(self.init_preference, Mapping):  # saved as a list, in the order of preference_names
                self.init_preference = [self.init_preference[name] for name in self.preference_names]
            self.init_preference = [float(v) for v in self.init_preference]

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike, subfolder: str | None = None, **kwargs: Any
    ) -> PeftConfig:
        """Load a saved config and check it against the shapes of the weights saved beside it (read from the file
        header): a config whose ``r`` or ``pref_dim`` differs from its weights fails here, before PEFT builds
        layers for it (gigabytes for a corrupted huge ``r``)."""
        config = super().from_pretrained(pretrained_model_name_or_path, subfolder=subfolder, **kwargs)
        if isinstance(config, PanaceaConfig):
            shapes = saved_weight_shapes(pretrained_model_name_or_path, subfolder, **hub_kwargs(kwargs))
            check_saved_rank(config, shapes)
        return config

    def _check(self) -> None:
        if self.pref_dim is None:
            raise ValueError(
                "`pref_dim` is required: the number of objectives (>= 2), e.g. PanaceaConfig(pref_dim=2)."
            )
        if not _is_integer(self.pref_dim) or self.pref_dim < 2:
            raise ValueError(f"`pref_dim` must be an integer >= 2 (number of objectives), got {self.pref_dim!r}.")
        if not _is_integer(self.r) or self.r < 1:
            raise ValueError(f"`r` must be a positive integer (learned singular values), got {self.r!r}.")
        self.pref_dim, self.r = int(self.pref_dim), int(self.r)  # numpy integers become plain ints for the JSON
        if self.init_panacea_weights not in (True, False, "paper"):
            raise ValueError(
                f"`init_panacea_weights` must be True (LoRA-style), 'paper' or False (random), "
                f"got {self.init_panacea_weights!r}."
            )
        if not _is_finite_number(self.lora_alpha) or not self.lora_alpha > 0:
            raise ValueError(f"`lora_alpha` must be a finite number > 0, got {self.lora_alpha!r}.")
        if not _is_finite_number(self.lora_dropout) or not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"`lora_dropout` must be in [0, 1), got {self.lora_dropout!r}.")
        if not _is_finite_number(self.orth_reg_weight) or not self.orth_reg_weight >= 0:
            raise ValueError(f"`orth_reg_weight` must be a finite number >= 0, got {self.orth_reg_weight!r}.")
        if self.bias != "none":
            raise ValueError(f"Panacea supports only bias='none', got {self.bias!r}.")
        if isinstance(self.preference_names, str):
            raise ValueError(
                f"`preference_names` must be a list of {self.pref_dim} names, not the string "
                f"{self.preference_names!r}; e.g. preference_names=['helpful', 'harmless']."
            )
        if self.preference_names is not None:
            names = list(self.preference_names)
            if len(names) != self.pref_dim:
                raise ValueError(
                    f"`preference_names` has {len(names)} names but pref_dim={self.pref_dim}; "
                    "give one name per objective."
                )
            if len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
                raise ValueError(f"`preference_names` must be unique non-empty strings, got {names}.")
            self.preference_names = names
        if self.layers_pattern and self.layers_to_transform is None:
            raise ValueError("`layers_pattern` is only used together with `layers_to_transform`.")
        if isinstance(self.target_modules, str) and self.layers_to_transform is not None:
            raise ValueError("`layers_to_transform` cannot be combined with a regex `target_modules`; use a list.")

    @property
    def rank(self) -> int:
        """Rank of each adapted weight's update: the ``r`` learned singular values plus the ``pref_dim`` preference
        ones (the rank of the LoRA that ``export_lora`` writes)."""
        return self.r + self.pref_dim

    @property
    def objective_names(self) -> list[str]:
        """Names of the objectives, generic when ``preference_names`` is not set."""
        return (
            list(self.preference_names) if self.preference_names else [f"objective_{i}" for i in range(self.pref_dim)]
        )
