"""A faster learning rate for the preference directions, by scaling their optimiser step.

The preference directions (the last m rows of V^T, the last m columns of U, and s) are slices of the same tensors
as the shared directions, so an optimiser parameter group cannot single them out; and Adam's step does not depend
on the gradient's scale, so scaling their gradient would do nothing. Scaling the step itself does what a separate
learning rate would (LoRA+ does the same for LoRA's B, with its own parameter group).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from transformers import TrainerCallback


class PreferenceStepScale(TrainerCallback):
    """Multiplies every optimiser update of ``directions`` by ``ratio``: ``w <- w_before + ratio * (w - w_before)``.

    Args:
        directions: Returns views of the trained weights (``PanaceaModel.preference_directions``); called at every
            step, so that weights moved or replaced after the trainer was built are the ones scaled.
        ratio: The preference directions' learning rate over the trainer's ``learning_rate``.
    """

    def __init__(self, directions: Callable[[], list[torch.Tensor]], ratio: float) -> None:
        self.directions = directions
        self.ratio = ratio
        self.before: list[tuple[torch.Tensor, torch.Tensor]] = []

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.before = [(view, view.detach().clone()) for view in self.directions()]

    @torch.no_grad()
    def on_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        for view, before in self.before:
            view.copy_(before + self.ratio * (view - before))
        self.before = []
