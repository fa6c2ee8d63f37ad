"""TRL trainers that train one Panacea adapter for a whole Pareto front."""

from .args import PanaceaArguments
from .dpo_config import PanaceaDPOConfig
from .dpo_trainer import PanaceaDPOTrainer

__all__ = ["PanaceaArguments", "PanaceaDPOConfig", "PanaceaDPOTrainer"]
