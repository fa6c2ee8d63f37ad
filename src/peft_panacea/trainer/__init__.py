"""TRL trainers that train one Panacea adapter for a whole Pareto front (the ``[train]`` extra)."""

from .._extras import raise_if_extra_missing

try:
    from .args import PanaceaArguments, PanaceaOnlineArguments
    from .dpo_config import PanaceaDPOConfig
    from .dpo_trainer import PanaceaDPOTrainer
    from .grpo_config import PanaceaGRPOConfig
    from .grpo_trainer import PanaceaGRPOTrainer
    from .rloo_config import PanaceaRLOOConfig
    from .rloo_trainer import PanaceaRLOOTrainer
    from .sft_config import PanaceaSFTConfig
    from .sft_trainer import PanaceaSFTTrainer
except ImportError as error:
    raise_if_extra_missing("train", "The Panacea trainers (peft_panacea.trainer)", error)
    raise

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
