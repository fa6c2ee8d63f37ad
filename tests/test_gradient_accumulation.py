"""Gradient accumulation through ``trainer.train()``: k micro-batches of b rows give the gradient of one batch of k*b.

The logged ``grad_norm`` of the first optimizer step is compared between accumulation 1 and 2 (and 4) on the same
rows, with the preference held at the centre of the simplex so every micro-batch sees the same trade-off. A loss
divided by the accumulation steps twice (or not at all) changes it by exactly that factor.
"""

import pytest

from .test_dpo_trainer import make_trainer as make_dpo
from .test_dpo_trainer import pairs
from .test_online_trainers import make_trainer as make_online
from .test_sft_trainer import make_trainer as make_sft
from .test_sft_trainer import styles

CENTRE = {"preference_sampling": "dirichlet", "dirichlet_alpha": 1e6}  # every draw within 1e-3 of (0.5, 0.5)


def first_grad_norm(trainer) -> float:
    trainer.train()
    return next(entry["grad_norm"] for entry in trainer.state.log_history if "grad_norm" in entry)


def offline_trainer(kind, tmp_path, batch, accumulation):
    common = {"per_device_train_batch_size": batch, "gradient_accumulation_steps": accumulation, "max_steps": 1}
    if kind == "dpo":  # both objectives labelled on every row: no micro-batch lacks an objective
        return make_dpo(tmp_path, dataset=pairs(labels=[[1, 1]]), **common, **CENTRE)
    # one objective on every row, so each micro-batch combines the same objectives
    return make_sft(tmp_path, dataset=styles(objective=lambda i: "chatty"), **common, **CENTRE)


@pytest.mark.parametrize("kind", ["dpo", "sft"])
@pytest.mark.parametrize("accumulation", [2, 4])
def test_offline_trainers_accumulate_to_the_full_batch_gradient(tmp_path, kind, accumulation):
    full = first_grad_norm(offline_trainer(kind, tmp_path / "full", 4, 1))
    accumulated = first_grad_norm(offline_trainer(kind, tmp_path / "acc", 4 // accumulation, accumulation))
    assert accumulated == pytest.approx(full, rel=0.05), (full, accumulated)


@pytest.mark.parametrize("kind", ["grpo", "rloo"])
def test_online_trainers_accumulate_to_the_full_batch_gradient(tmp_path, kind):
    # Both generate the same 8 completions in one call (the generation batch is batch x accumulation) and differ only
    # in how the loss is split into micro-batches.
    full = first_grad_norm(
        make_online(tmp_path / "full", kind, per_device_train_batch_size=8, max_steps=1, seed=0, **CENTRE)
    )
    accumulated = first_grad_norm(
        make_online(
            tmp_path / "acc",
            kind,
            per_device_train_batch_size=4,
            gradient_accumulation_steps=2,
            max_steps=1,
            seed=0,
            **CENTRE,
        )
    )
    assert accumulated == pytest.approx(full, rel=0.05), (full, accumulated)
