"""``PanaceaSFTConfig``: TRL's SFTConfig plus the Panacea preference and aggregation options."""

from __future__ import annotations

from dataclasses import dataclass

from trl import SFTConfig

from .args import PanaceaArguments, UnsupportedOption, refuse_unsupported_options

_ONE_ROW_PER_SEQUENCE = "Set packing=False and padding_free=False: each row needs its own objective and preference."

# Every SFTConfig option of TRL 1.16 that changes the loss and that PanaceaSFTTrainer.compute_loss does not
# implement. Honoured as in TRL, through the labels its collator masks: completion_only_loss, assistant_only_loss,
# max_length/truncation.
UNSUPPORTED_SFT_OPTIONS = (
    UnsupportedOption("packing", lambda value: not value, _ONE_ROW_PER_SEQUENCE),
    UnsupportedOption("padding_free", lambda value: not value, _ONE_ROW_PER_SEQUENCE),
    UnsupportedOption(
        "loss_type",
        lambda value: value == "nll",
        "Use loss_type='nll': the loss combines per-objective mean NLLs.",
    ),
    UnsupportedOption(
        "label_smoothing_factor",
        lambda value: value == 0,
        "Set label_smoothing_factor=0 (no label smoothing).",
    ),
    UnsupportedOption(
        "router_aux_loss_coef",
        lambda value: not value,
        "Leave router_aux_loss_coef unset: the MoE router loss is not added.",
    ),
)


@dataclass
class PanaceaSFTConfig(PanaceaArguments, SFTConfig):
    """Configuration for :class:`PanaceaSFTTrainer` (the paper's multi-style SFT).

    The data has ``prompt``, ``completion`` and ``objective`` (an index, or a name from ``preference_names``):
    each completion is written in the style of one objective. Packing and padding-free batches are refused,
    because they merge rows that need their own objective (and, per sample, their own preference), and so are the
    other loss options the Panacea loss does not implement (:data:`UNSUPPORTED_SFT_OPTIONS`).
    """

    def __post_init__(self) -> None:
        self._check_panacea_arguments()
        refuse_unsupported_options(self, UNSUPPORTED_SFT_OPTIONS)
        super().__post_init__()
