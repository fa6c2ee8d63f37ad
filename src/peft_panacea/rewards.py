"""The documented import path ``peft_panacea.rewards``; the demo's offline rewards live in
:mod:`peft_panacea.demo.rewards`."""

from .demo.rewards import REWARD_FUNCTIONS, conciseness, neutrality, positivity

__all__ = ["REWARD_FUNCTIONS", "conciseness", "neutrality", "positivity"]
