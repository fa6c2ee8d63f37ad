"""``PanaceaSFTConfig``: TRL's SFTConfig plus the Panacea preference and aggregation options."""

from __future__ import annotations

from dataclasses import dataclass

from trl import SFTConfig

from .args import PanaceaArguments


@dataclass
class PanaceaSFTConfig(PanaceaArguments, SFTConfig):
    """Configuration for :class:`PanaceaSFTTrainer` (the paper's multi-style SFT).

    The data has ``prompt``, ``completion`` and ``objective`` (an index, or a name from ``preference_names``):
    each completion is written in the style of one objective. Packing and padding-free batches are refused,
    because they merge rows that need their own objective (and, per sample, their own preference).
    """

    def __post_init__(self) -> None:
        self._check_panacea_arguments()
        if self.packing or self.padding_free:
            raise ValueError("PanaceaSFTConfig needs one row per sequence: set packing=False and padding_free=False.")
        super().__post_init__()
