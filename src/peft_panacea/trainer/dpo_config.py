"""``PanaceaDPOConfig``: TRL's DPOConfig plus the Panacea preference and aggregation options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trl import DPOConfig

from .args import PanaceaArguments, UnsupportedOption, refuse_unsupported_options

SUPPORTED_LOSS_TYPES = ("sigmoid", "hinge", "ipo")


def _single_supported_loss_type(value: Any) -> bool:
    loss_types = [value] if isinstance(value, str) else list(value)
    return len(loss_types) == 1 and loss_types[0] in SUPPORTED_LOSS_TYPES


# Every DPOConfig option of TRL 1.16 that changes the loss and that PanaceaDPOTrainer._compute_loss does not
# implement. Honoured as in TRL: beta, precompute_ref_log_probs, max_length/truncation, padding_free (TRL falls back
# to padding), disable_dropout. `rpo_alpha` is gone from TRL 1.16 (its "sft" loss_type is refused below).
UNSUPPORTED_DPO_OPTIONS = (
    UnsupportedOption(
        "loss_type",
        _single_supported_loss_type,
        f"PanaceaDPOConfig supports a single loss_type in {SUPPORTED_LOSS_TYPES}.",
    ),
    UnsupportedOption(
        "loss_weights",
        lambda value: value is None,
        "Leave `loss_weights` unset: the preference weighs the per-objective losses.",
    ),
    UnsupportedOption("label_smoothing", lambda value: value == 0, "Set label_smoothing=0 (no robust/cDPO loss)."),
    UnsupportedOption("use_weighting", lambda value: not value, "Set use_weighting=False (no WPO weighting)."),
    UnsupportedOption(
        "f_divergence_type",
        lambda value: value == "reverse_kl",
        "Use f_divergence_type='reverse_kl' (the DPO divergence).",
    ),
    UnsupportedOption("ld_alpha", lambda value: value is None, "Leave ld_alpha=None (no LD-DPO length weighting)."),
    UnsupportedOption(
        "router_aux_loss_coef",
        lambda value: not value,
        "Leave router_aux_loss_coef unset: the MoE router loss is not added.",
    ),
    UnsupportedOption(
        "sync_ref_model",
        lambda value: not value,
        "Set sync_ref_model=False: the reference is always the base model with the adapter disabled.",
    ),
)


@dataclass
class PanaceaDPOConfig(PanaceaArguments, DPOConfig):
    """Configuration for :class:`PanaceaDPOTrainer`.

    Adds :class:`~peft_panacea.trainer.args.PanaceaArguments` (aggregation, preference sampling and granularity,
    Tchebycheff ideal point, orthogonality weight) to TRL's ``DPOConfig``. The data needs a ``preference_labels``
    column: m values per row, +1 when ``chosen`` is better on objective i, -1 when ``rejected`` is, 0 when unknown.
    Supports ``loss_type`` "sigmoid" (DPO), "hinge" or "ipo" (length-normalised, as in TRL), with the default
    reverse-KL divergence; the other loss options of TRL are refused (:data:`UNSUPPORTED_DPO_OPTIONS`).
    """

    def __post_init__(self) -> None:
        self._check_panacea_arguments()
        refuse_unsupported_options(self, UNSUPPORTED_DPO_OPTIONS)
        super().__post_init__()
