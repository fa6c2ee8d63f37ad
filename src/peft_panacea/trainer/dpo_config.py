"""``PanaceaDPOConfig``: TRL's DPOConfig plus the Panacea preference and aggregation options."""

from __future__ import annotations

from dataclasses import dataclass

from trl import DPOConfig

from .args import PanaceaArguments

SUPPORTED_LOSS_TYPES = ("sigmoid", "hinge")


@dataclass
class PanaceaDPOConfig(PanaceaArguments, DPOConfig):
    """Configuration for :class:`PanaceaDPOTrainer`.

    Adds :class:`~peft_panacea.trainer.args.PanaceaArguments` (aggregation, preference sampling and granularity,
    Tchebycheff ideal point, orthogonality weight) to TRL's ``DPOConfig``. The data needs a ``preference_labels``
    column: m values per row, +1 when ``chosen`` is better on objective i, -1 when ``rejected`` is, 0 when unknown.
    Supports ``loss_type`` "sigmoid" (DPO) or "hinge", with the default reverse-KL divergence.
    """

    def __post_init__(self) -> None:
        self._check_panacea_arguments()
        loss_types = [self.loss_type] if isinstance(self.loss_type, str) else list(self.loss_type)
        if len(loss_types) != 1 or loss_types[0] not in SUPPORTED_LOSS_TYPES:
            raise ValueError(
                f"PanaceaDPOConfig supports a single loss_type in {SUPPORTED_LOSS_TYPES}, got {self.loss_type}."
            )
        if self.f_divergence_type != "reverse_kl" or self.ld_alpha is not None:
            raise ValueError("PanaceaDPOConfig supports only f_divergence_type='reverse_kl' and ld_alpha=None.")
        super().__post_init__()
