"""What every Panacea trainer does around TRL's loop: draw the preference, apply it, combine, log."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
from peft import PeftConfig, PeftModel
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint

from ..aggregation import aggregate
from ..sampling import PreferenceSampler
from ..tuner.config import PanaceaConfig
from ..tuner.model import PanaceaModel
from ..tuner.preference import is_per_sample
from .collator import WithColumns
from .preference_lr import PreferenceStepScale


def resolve_panacea_config(model: Any, peft_config: PeftConfig | None) -> PanaceaConfig:
    """The Panacea adapter config the trainer will train, or a ``ValueError`` saying how to provide one."""
    if peft_config is not None:
        if not isinstance(peft_config, PanaceaConfig):
            raise ValueError(
                f"Panacea trainers need `peft_config=PanaceaConfig(...)`, got {type(peft_config).__name__}."
            )
        return peft_config
    if isinstance(model, PeftModel) and isinstance(model.base_model, PanaceaModel):
        return model.peft_config[model.active_adapter]
    raise ValueError(
        "Panacea trainers train a Panacea adapter: pass `peft_config=PanaceaConfig(pref_dim=...)`, or a model "
        "wrapped with `get_peft_model(model, PanaceaConfig(...))`."
    )


STATE_FILE = "panacea_trainer_state.json"


class SavePanaceaState(TrainerCallback):
    """Writes the trainer's Panacea state (preference draws, reward moments) into every checkpoint it saves."""

    def __init__(self, trainer: PanaceaTrainerMixin) -> None:
        self.trainer = trainer

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
            (folder / STATE_FILE).write_text(json.dumps(self.trainer.panacea_state()))


class PanaceaTrainerMixin:
    """Mixed into TRL trainers; expects ``self.args`` to be a config with :class:`PanaceaArguments` fields."""

    # Per-row dataset columns the loss needs besides TRL's own (name -> tensor dtype): kept through column pruning
    # and added to each batch by the collator.
    extra_columns: dict[str, torch.dtype] = {}

    def _setup_panacea(self, config: PanaceaConfig) -> None:
        args = self.args
        self.pref_dim = config.pref_dim
        self.objective_names = config.objective_names
        self.preference_sampler = PreferenceSampler(
            config.pref_dim, args.preference_sampling, args.dirichlet_alpha, args.vertex_probability, seed=args.seed
        )
        ideal = args.tchebycheff_ideal_point
        if ideal is not None and len(ideal) != config.pref_dim:
            raise ValueError(
                f"`tchebycheff_ideal_point` has {len(ideal)} values but the adapter has pref_dim={config.pref_dim}."
            )
        self.ideal_point = torch.tensor(ideal if ideal is not None else [0.0] * config.pref_dim)
        self.orth_reg_weight = config.orth_reg_weight if args.orth_reg_weight is None else args.orth_reg_weight
        if self.extra_columns:
            self.data_collator = WithColumns(self.data_collator, self.extra_columns, self.parse_extra_column)
        self._drop_ref_adapter()
        self.add_callback(SavePanaceaState(self))
        if args.preference_lr_ratio != 1:
            directions = lambda: self.panacea_model.base_model.preference_directions()  # noqa: E731
            self.add_callback(PreferenceStepScale(directions, args.preference_lr_ratio))

    def parse_extra_column(self, name: str, value: Any) -> Any:
        """One row's value of the extra column ``name``, checked (``ValueError`` saying what is wrong) and converted
        for the loss; the collator calls it on every row, so streamed datasets are checked too."""
        return value

    def panacea_state(self) -> dict[str, Any]:
        """What a resumed run needs to continue exactly: the number of preferences drawn so far."""
        return {"preference_draws": self.preference_sampler.draws}

    def load_panacea_state(self, state: dict[str, Any]) -> None:
        self.preference_sampler.draws = state["preference_draws"]

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs: Any) -> Any:
        """TRL's ``train``, plus: a resumed run continues the preference draws (and reward moments) of the
        checkpoint instead of replaying them, and the adapter gets back the preference it had before training."""
        checkpoint = resume_from_checkpoint
        if checkpoint is True:
            checkpoint = get_last_checkpoint(self.args.output_dir)
        if checkpoint:
            path = Path(checkpoint) / STATE_FILE
            if not path.exists():
                raise ValueError(
                    f"Checkpoint '{checkpoint}' has no {STATE_FILE}: it was not saved by a Panacea trainer, so the "
                    "preference draws cannot continue where they stopped. Resume from a Panacea trainer checkpoint."
                )
            self.load_panacea_state(json.loads(path.read_text()))
        before = self.panacea_model.get_preference()
        try:
            return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)
        finally:
            self.panacea_model.set_preference(before)

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        missing = [name for name in self.extra_columns if name not in self._signature_columns]
        self._signature_columns = [*self._signature_columns, *missing]

    def _drop_ref_adapter(self) -> None:
        """Use the adapter-disabled base as reference: TRL's "ref" copy would read its own, unrelated preference."""
        unwrapped = self.accelerator.unwrap_model(self.model)
        if isinstance(unwrapped, PeftModel) and "ref" in unwrapped.peft_config:
            unwrapped.delete_adapter("ref")
            unwrapped.set_adapter("default")
            warnings.warn(
                "Panacea trainers use the base model (adapter disabled) as the reference, not a copy of the adapter; "
                "the 'ref' adapter TRL added was removed.",
                stacklevel=3,
            )

    @property
    def panacea_model(self) -> PeftModel:
        return self.accelerator.unwrap_model(self.model)

    def next_preference(self, batch_size: int, mode: str, labelled: torch.Tensor | None = None) -> torch.Tensor:
        """The preference for this batch: (m,) per batch or (batch_size, m) per sample; the centre for eval.

        ``labelled`` (batch_size, m) bool: the objectives each row has a label for, which restrict its draw when
        ``preference_support="labelled"``.
        """
        if mode == "eval":
            centre = torch.full((self.pref_dim,), 1.0 / self.pref_dim)
            return centre if self.args.preference_granularity == "batch" else centre.expand(batch_size, -1)
        if self.args.preference_granularity == "batch":
            return self.preference_sampler.sample()  # identical on all ranks: same seed, same draw count
        support = labelled if self.args.preference_support == "labelled" else None
        return self.preference_sampler.sample(batch_size, stream=self.accelerator.process_index, support=support)

    def apply_preference(self, preference: torch.Tensor) -> None:
        """Set it on the model; it stays set through backward, as gradient checkpointing needs."""
        self.panacea_model.set_preference(preference)

    def combine_losses(
        self, values: torch.Tensor, preference: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Aggregate per-row, per-objective losses ``values`` (B, m) where ``mask`` is True.

        Per-batch preference: the per-objective mean over labelled rows, then one aggregation. Per-sample: each row
        aggregated with its own preference, then the mean over labelled rows. Returns (loss, per-objective mean
        loss, objectives present).
        """
        mask = mask.to(values.device)
        counts = mask.sum(0)
        per_objective = torch.where(mask, values, torch.zeros_like(values)).sum(0) / counts.clamp(min=1)
        present = counts > 0
        ideal = self.ideal_point.to(values.device, values.dtype)
        pref = preference.to(values.device, values.dtype)
        method, mu = self.args.aggregation, self.args.smooth_tchebycheff_mu
        if not is_per_sample(pref):
            loss = aggregate(per_objective, pref, method, ideal, mu, mask=present)
        else:
            per_row = aggregate(values, pref, method, ideal, mu, mask=mask)
            labelled = mask.any(-1)
            loss = (per_row * labelled).sum() / labelled.sum().clamp(min=1)
        return loss, per_objective.detach(), present

    def add_orthogonal_regularization(self, loss: torch.Tensor) -> torch.Tensor:
        if not self.orth_reg_weight:
            return loss
        return loss + self.orth_reg_weight * self.panacea_model.orthogonal_regularization()

    def log_preference_metrics(
        self,
        mode: str,
        preference: torch.Tensor,
        per_objective: torch.Tensor,
        present: torch.Tensor,
        loss: torch.Tensor,
    ) -> None:
        """Per-objective losses and preference statistics, averaged over processes, into TRL's metric buffers."""
        gather = self.accelerator.gather_for_metrics
        device = per_objective.device
        pref = preference.to(device).reshape(-1, self.pref_dim).mean(0)
        sums = gather((per_objective * present).unsqueeze(0)).sum(0)
        counts = gather(present.float().unsqueeze(0)).sum(0)
        prefs = gather(pref.unsqueeze(0))
        metrics = self._metrics[mode]
        for i, name in enumerate(self.objective_names):
            if counts[i] > 0:
                metrics[f"objective_loss/{name}"].append((sums[i] / counts[i]).item())
            metrics[f"preference/{name}"].append(prefs[:, i].mean().item())
        metrics["aggregated_loss"].append(gather(loss.detach().reshape(1)).mean().item())
