"""``PanaceaSFTTrainer``: SFT on per-objective styles, with the losses combined by a sampled preference."""

from __future__ import annotations

from typing import Any

import torch
from peft import PeftConfig
from trl import SFTTrainer

from ..compat.trl_compat import fused_log_probs
from .core import PanaceaTrainerMixin, resolve_panacea_config
from .data import OBJECTIVE, objectives_as_indices, parse_objective
from .sft_config import PanaceaSFTConfig


class PanaceaSFTTrainer(PanaceaTrainerMixin, SFTTrainer):
    """Multi-objective SFT (Panacea's Chat experiment): each row's completion shows one objective's style; the
    per-objective mean NLLs of a batch are combined with the preference drawn for it (or each row's NLL with its
    own preference), so one adapter learns every mix of the styles.
    """

    _tag_names = ["trl", "sft", "panacea"]
    extra_columns = {OBJECTIVE: torch.long}
    # compute_loss returns a per-micro-batch mean, not a sum over num_items_in_batch: Trainer must divide it by the
    # accumulation steps (its own guess would say "already scaled" for a model that accepts loss kwargs).
    loss_is_scaled_for_ga = False

    def __init__(
        self,
        model: Any,
        args: PanaceaSFTConfig | None = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        processing_class: Any = None,
        peft_config: PeftConfig | None = None,
        **kwargs: Any,
    ) -> None:
        if args is None or not isinstance(args, PanaceaSFTConfig):
            raise ValueError("PanaceaSFTTrainer needs `args=PanaceaSFTConfig(...)`.")
        config = resolve_panacea_config(model, peft_config)
        train_dataset = objectives_as_indices(train_dataset, config.objective_names, "train_dataset")
        eval_dataset = objectives_as_indices(eval_dataset, config.objective_names, "eval_dataset")
        super().__init__(
            model=model,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            peft_config=peft_config,
            **kwargs,
        )
        self._setup_panacea(config)

    def parse_extra_column(self, name: str, value: Any) -> Any:
        return parse_objective(value, self.objective_names)

    def compute_loss(
        self, model: Any, inputs: dict[str, torch.Tensor], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        mode = "train" if self.model.training else "eval"
        objective = inputs.pop(OBJECTIVE)
        mask = torch.nn.functional.one_hot(objective, self.pref_dim).bool()
        preference = self.next_preference(objective.shape[0], mode, labelled=mask)
        self.apply_preference(preference)
        outputs = fused_log_probs(model, **inputs, use_cache=False)
        tokens = outputs.label_mask.sum(1).clamp(min=1)
        sequence_nll = -outputs.log_probs.sum(1) / tokens
        values = sequence_nll.unsqueeze(-1).expand(-1, self.pref_dim)
        loss, per_objective, present = self.combine_losses(values, preference, mask)
        loss = self.add_orthogonal_regularization(loss)
        self.log_preference_metrics(mode, preference, per_objective, present, loss)
        return (loss, outputs) if return_outputs else loss
