"""``PanaceaRLOOConfig``: TRL's RLOOConfig plus the Panacea preference, normalisation and aggregation options."""

from __future__ import annotations

from dataclasses import dataclass

from trl import RLOOConfig

from .args import PanaceaOnlineArguments


@dataclass
class PanaceaRLOOConfig(PanaceaOnlineArguments, RLOOConfig):
    """Configuration for :class:`PanaceaRLOOTrainer`; ``reward_weights`` is replaced by the sampled preference."""

    def __post_init__(self) -> None:
        self._check_panacea_arguments()
        if self.reward_weights is not None:
            raise ValueError("Panacea weighs the rewards with the sampled preference; leave `reward_weights` unset.")
        super().__post_init__()
