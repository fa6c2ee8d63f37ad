"""``trainer.train(resume_from_checkpoint=...)`` continues exactly where the run stopped, and ``train()`` hands the
adapter back with the preference it had before training."""

import json

import pytest
import torch

from peft_panacea.trainer.core import STATE_FILE

from .test_dpo_trainer import make_trainer as make_dpo
from .test_online_trainers import make_trainer as make_online
from .test_sft_trainer import make_trainer as make_sft

MAKERS = {
    "dpo": make_dpo,
    "sft": make_sft,
    "grpo": lambda path, **kwargs: make_online(path, "grpo", **kwargs),
    "rloo": lambda path, **kwargs: make_online(path, "rloo", **kwargs),
}


def adapter_weights(trainer) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, kind):
    settings = {"max_steps": 4, "save_strategy": "steps", "save_steps": 2, "seed": 3}
    if kind in ("dpo", "sft"):
        settings["preference_sampling"] = "uniform"  # a different preference at every step: replays would show
    whole = MAKERS[kind](tmp_path / "whole", **settings)
    whole.train()
    checkpoint = tmp_path / "whole" / "out" / "checkpoint-2"
    saved = json.loads((checkpoint / STATE_FILE).read_text())
    assert saved["preference_draws"] > 0
    if kind in ("grpo", "rloo"):
        assert min(saved["reward_moments"]["count"]) > 0

    resumed = MAKERS[kind](tmp_path / "resumed", **settings)
    resumed.train(resume_from_checkpoint=str(checkpoint))
    assert resumed.preference_sampler.draws == whole.preference_sampler.draws
    if kind in ("grpo", "rloo"):
        torch.testing.assert_close(resumed.reward_moments.mean, whole.reward_moments.mean)
        torch.testing.assert_close(resumed.reward_moments.count, whole.reward_moments.count)
    expected, got = adapter_weights(whole), adapter_weights(resumed)
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, msg=name)


def test_resuming_from_a_checkpoint_without_panacea_state_is_refused(tmp_path):
    folder = tmp_path / "foreign" / "checkpoint-2"
    folder.mkdir(parents=True)
    trainer = make_dpo(tmp_path / "run")
    with pytest.raises(ValueError, match=f"has no {STATE_FILE}"):
        trainer.train(resume_from_checkpoint=str(folder))


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_training_gives_back_the_preference_the_adapter_had(tmp_path, kind):
    settings = {"max_steps": 2}
    if kind in ("dpo", "sft"):
        settings["preference_granularity"] = "sample"  # training leaves a per-row (batch, m) preference set
    else:
        settings["preference_granularity"] = "group"
    trainer = MAKERS[kind](tmp_path, **settings)
    trainer.model.set_preference([0.3, 0.7])
    trainer.train()
    torch.testing.assert_close(trainer.model.get_preference(), torch.tensor([0.3, 0.7]))
