"""``PanaceaRLOOTrainer``: online RL (RLOO, leave-one-out baseline) of one Panacea adapter for the whole front."""

from __future__ import annotations

from typing import Any

from peft import PeftConfig
from trl import RLOOTrainer

from .core import resolve_panacea_config
from .online import PanaceaOnlineMixin
from .rloo_config import PanaceaRLOOConfig


class PanaceaRLOOTrainer(PanaceaOnlineMixin, RLOOTrainer):
    """RLOO with m reward functions, one per objective in the adapter's order.

    A preference is drawn before each generation batch (or per prompt group), injected into the adapter for
    generation, scoring and the loss, passed to reward functions as ``preference=``, and used to aggregate the
    per-objective rewards (normalised first) into the reward RLOO optimises.
    """

    _tag_names = ["trl", "rloo", "panacea"]

    def __init__(
        self,
        model: Any,
        reward_funcs: Any,
        args: PanaceaRLOOConfig | None = None,
        peft_config: PeftConfig | None = None,
        **kwargs: Any,
    ) -> None:
        if args is None or not isinstance(args, PanaceaRLOOConfig):
            raise ValueError("PanaceaRLOOTrainer needs `args=PanaceaRLOOConfig(...)`.")
        config = resolve_panacea_config(model, peft_config)
        self._check_generation_backend(args, kwargs)
        self._check_datasets(args, config, kwargs)
        reward_funcs = self._copy_reward_lists(reward_funcs, kwargs)
        super().__init__(model=model, reward_funcs=reward_funcs, args=args, peft_config=peft_config, **kwargs)
        self._setup_online(config)
