"""``PanaceaDPOTrainer``: one DPO run trains a Panacea adapter for the whole Pareto front."""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from peft import PeftConfig
from trl import DPOTrainer

from ..compat.trl_compat import fused_log_probs
from ..tuner.preference import is_per_sample
from .core import PanaceaTrainerMixin, resolve_panacea_config
from .data import LABELS, check_dpo_dataset, parse_preference_labels
from .dpo_config import PanaceaDPOConfig

_NOT_MODEL_INPUTS = {"completion_mask", "ref_chosen_logps", "ref_rejected_logps", LABELS}


class PanaceaDPOTrainer(PanaceaTrainerMixin, DPOTrainer):
    """Multi-objective DPO (Panacea): a preference is drawn per batch (or per row) and injected into the adapter,
    the m per-objective DPO losses come from one policy and one reference forward with the sign of each pair's
    label, and they are combined with the preference (linear or Tchebycheff).

    The reference is always the base model with the adapter disabled; it does not depend on the preference, so
    ``precompute_ref_log_probs`` works as in TRL.
    """

    _tag_names = ["trl", "dpo", "panacea"]
    extra_columns = {LABELS: torch.float32}

    def __init__(
        self,
        model: Any,
        args: PanaceaDPOConfig | None = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        processing_class: Any = None,
        peft_config: PeftConfig | None = None,
        **kwargs: Any,
    ) -> None:
        if args is None or not isinstance(args, PanaceaDPOConfig):
            raise ValueError("PanaceaDPOTrainer needs `args=PanaceaDPOConfig(...)`.")
        if kwargs.get("ref_model") is not None:
            raise ValueError("PanaceaDPOTrainer uses the adapter-disabled base model as reference; drop `ref_model`.")
        config = resolve_panacea_config(model, peft_config)
        for name, dataset in (("train_dataset", train_dataset), ("eval_dataset", eval_dataset)):
            check_dpo_dataset(dataset, config.pref_dim, name)
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
        return parse_preference_labels(value, self.pref_dim)

    def _precompute_ref_logps(self, *args: Any, **kwargs: Any) -> Any:
        self._drop_ref_adapter()  # runs inside DPOTrainer.__init__, before _setup_panacea
        return super()._precompute_ref_logps(*args, **kwargs)

    def _policy_logps(self, model: Any, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        model_kwargs = {k: v for k, v in inputs.items() if k not in _NOT_MODEL_INPUTS}
        model_kwargs["use_cache"] = False
        labels = inputs["input_ids"].masked_fill(inputs["completion_mask"] == 0, -100)
        outputs = fused_log_probs(model, **model_kwargs, labels=labels)
        seq_len = inputs["completion_mask"].size(1) - 1
        return outputs.log_probs[:, -seq_len:].sum(dim=1).chunk(2, dim=0)

    def _reference_logps(self, model: Any, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        if self.precompute_ref_logps:
            return inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        return self.compute_ref_log_probs(model, {k: v for k, v in inputs.items() if k != LABELS})

    def loss_margins(
        self, inputs: dict[str, torch.Tensor], chosen_ratio: torch.Tensor, rejected_ratio: torch.Tensor
    ) -> torch.Tensor:
        """The margin the loss sees: chosen minus rejected log-ratio, per completion token for IPO (as in TRL)."""
        if self.loss_types[0] == "ipo":
            chosen_len, rejected_len = inputs["completion_mask"].sum(1).clamp(min=1).chunk(2)
            return chosen_ratio / chosen_len - rejected_ratio / rejected_len
        return chosen_ratio - rejected_ratio

    def per_objective_losses(self, margins: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(B, m) losses: objective i sees the pair as chosen > rejected when its label is +1, reversed for -1.

        IPO pulls each labelled margin to 1 / (2 beta) instead of pushing it without bound, so the adapter's
        steering stays calibrated however long it trains.
        """
        signed = labels * margins.unsqueeze(-1)
        if self.loss_types[0] == "ipo":
            return (signed - 1 / (2 * self.beta)) ** 2
        if self.loss_types[0] == "hinge":
            return torch.relu(1 - self.beta * signed)
        return -F.logsigmoid(self.beta * signed)

    def _compute_loss(self, model: Any, inputs: dict[str, torch.Tensor], return_outputs: bool) -> Any:
        mode = "train" if self.model.training else "eval"
        labels = inputs[LABELS]
        if mode == "train" and not labels.any():
            warnings.warn(
                f"Every pair of this batch has `{LABELS}` all 0: its loss is 0 and the step learns nothing "
                "(label each pair +1/-1 on at least one objective).",
                stacklevel=2,
            )
        preference = self.next_preference(labels.shape[0], mode, labelled=labels != 0)
        # rows are [chosen..., rejected...]: a per-row preference repeats for the rejected half
        self.apply_preference(torch.cat([preference, preference]) if is_per_sample(preference) else preference)

        chosen_logps, rejected_logps = self._policy_logps(model, inputs)
        ref_chosen, ref_rejected = self._reference_logps(model, inputs)
        chosen_ratio, rejected_ratio = chosen_logps - ref_chosen, rejected_logps - ref_rejected
        margins = self.loss_margins(inputs, chosen_ratio, rejected_ratio)
        values = self.per_objective_losses(margins, labels.to(margins.dtype))
        loss, per_objective, present = self.combine_losses(values, preference, labels != 0)
        loss = self.add_orthogonal_regularization(loss)

        self.log_preference_metrics(mode, preference, per_objective, present, loss)
        gathered = self.accelerator.gather(self.beta * (chosen_ratio - rejected_ratio).detach())
        self._metrics[mode]["rewards/margins"].append(gathered.mean().item())
        if return_outputs:
            raise ValueError("PanaceaDPOTrainer does not return logits; evaluate with prediction_loss_only=True.")
        return loss
