"""TRL trainers that train one Panacea adapter for a whole Pareto front."""

from .args import PanaceaArguments
from .dpo_config import PanaceaDPOConfig
from .dpo_trainer import PanaceaDPOTrainer
from .sft_config import PanaceaSFTConfig
from .sft_trainer import PanaceaSFTTrainer

__all__ = ["PanaceaArguments", "PanaceaDPOConfig", "PanaceaDPOTrainer", "PanaceaSFTConfig", "PanaceaSFTTrainer"]
