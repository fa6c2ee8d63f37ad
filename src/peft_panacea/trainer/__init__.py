"""TRL trainers that train one Panacea adapter for a whole Pareto front."""

from .args import PanaceaArguments, PanaceaOnlineArguments
from .dpo_config import PanaceaDPOConfig
from .dpo_trainer import PanaceaDPOTrainer
from .grpo_config import PanaceaGRPOConfig
from .grpo_trainer import PanaceaGRPOTrainer
from .rloo_config import PanaceaRLOOConfig
from .rloo_trainer import PanaceaRLOOTrainer
from .sft_config import PanaceaSFTConfig
from .sft_trainer import PanaceaSFTTrainer

__all__ = [
    "PanaceaArguments",
    "PanaceaDPOConfig",
    "PanaceaDPOTrainer",
    "PanaceaGRPOConfig",
    "PanaceaGRPOTrainer",
    "PanaceaOnlineArguments",
    "PanaceaRLOOConfig",
    "PanaceaRLOOTrainer",
    "PanaceaSFTConfig",
    "PanaceaSFTTrainer",
]
