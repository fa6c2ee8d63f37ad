"""``PanaceaGRPOTrainer``: online RL (GRPO, PPO-clip surrogate) of one Panacea adapter for the whole front."""

from __future__ import annotations

from typing import Any

from peft import PeftConfig
from trl import GRPOTrainer

from .core import resolve_panacea_config
from .grpo_config import PanaceaGRPOConfig
from .online import PanaceaOnlineMixin


class PanaceaGRPOTrainer(PanaceaOnlineMixin, GRPOTrainer):
    """GRPO with m reward functions, one per objective in the adapter's order.

    A preference is drawn before each generation batch (or per prompt group), injected into the adapter for
    generation, scoring and the loss, passed to reward functions as ``preference=``, and used to aggregate the
    per-objective rewards (normalised first) into the reward GRPO optimises. ``num_iterations > 1`` gives the
    PPO-style multi-epoch update.
    """

    _tag_names = ["trl", "grpo", "panacea"]

    def __init__(
        self,
        model: Any,
        reward_funcs: Any,
        args: PanaceaGRPOConfig | None = None,
        peft_config: PeftConfig | None = None,
        **kwargs: Any,
    ) -> None:
        if args is None or not isinstance(args, PanaceaGRPOConfig):
            raise ValueError("PanaceaGRPOTrainer needs `args=PanaceaGRPOConfig(...)`.")
        config = resolve_panacea_config(model, peft_config)
        self._check_generation_backend(args, kwargs)
        self._check_datasets(args, config, kwargs)
        reward_funcs = self._copy_reward_lists(reward_funcs, kwargs)
        super().__init__(model=model, reward_funcs=reward_funcs, args=args, peft_config=peft_config, **kwargs)
        self._setup_online(config)
