"""Training levers, through ``trainer.train()``: ``preference_lr_ratio`` and ``preference_support``."""

import copy

import pytest
import torch
from peft import get_peft_model

from peft_panacea import PanaceaConfig
from peft_panacea.trainer import PanaceaDPOConfig

from .models import tiny_llama
from .test_dpo_trainer import make_trainer, pairs

CONFIG = PanaceaConfig(pref_dim=2, task_type="CAUSAL_LM", preference_names=["helpful", "harmless"])


def weights(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if "panacea_" in name}


def one_step(tmp_path, model, ratio: float) -> dict[str, torch.Tensor]:
    """The weight change of one optimiser step (two accumulated micro-batches) through ``trainer.train()``."""
    before = weights(model)
    trainer = make_trainer(
        tmp_path,
        model=model,
        peft_config=None,
        preference_lr_ratio=ratio,
        per_device_train_batch_size=2,
        gradient_accumulation_steps=2,
        max_steps=1,
        seed=0,
    )
    trainer.train()
    return {name: weight - before[name] for name, weight in weights(trainer.model).items()}


def test_preference_directions_step_ratio_times_further(tmp_path):
    torch.manual_seed(0)
    model = get_peft_model(tiny_llama(), copy.deepcopy(CONFIG))
    plain = one_step(tmp_path / "plain", copy.deepcopy(model), 1.0)
    fast = one_step(tmp_path / "fast", model, 3.0)
    r = CONFIG.r
    checked = 0
    for name, step in plain.items():
        if "panacea_A" in name:
            shared, preference = step[:r], step[r:]
            fast_shared, fast_preference = fast[name][:r], fast[name][r:]
        elif "panacea_B" in name:
            shared, preference = step[:, :r], step[:, r:]
            fast_shared, fast_preference = fast[name][:, :r], fast[name][:, r:]
        elif "pref_scale" in name:
            shared, preference, fast_shared, fast_preference = None, step, None, fast[name]
        else:  # sigma: shared
            shared, preference, fast_shared, fast_preference = step, None, fast[name], None
        if shared is not None:
            torch.testing.assert_close(fast_shared, shared, atol=1e-7, rtol=1e-5)
        if preference is not None:
            torch.testing.assert_close(fast_preference, 3.0 * preference, atol=1e-7, rtol=1e-4)
            checked += bool(preference.abs().max() > 0)  # V^T's rows get no gradient while U is still 0
    assert checked > 0


@pytest.mark.parametrize("ratio", [0.0, -1.0, float("inf"), float("nan")])
def test_bad_ratio_is_refused(tmp_path, ratio):
    with pytest.raises(ValueError, match="preference_lr_ratio"):
        PanaceaDPOConfig(output_dir=str(tmp_path), preference_lr_ratio=ratio)


def logged_preferences(trainer, name: str) -> list[float]:
    trainer.train()
    return [entry[f"preference/{name}"] for entry in trainer.state.log_history if f"preference/{name}" in entry]


@pytest.mark.parametrize("support", ["simplex", "labelled"])
def test_labelled_support_draws_only_labelled_objectives(tmp_path, support):
    # Every row labels "helpful" only: with labelled support "harmless" never gets weight.
    trainer = make_trainer(
        tmp_path,
        dataset=pairs(labels=[[1, 0], [-1, 0]]),
        preference_granularity="sample",
        preference_support=support,
        max_steps=3,
        gradient_accumulation_steps=2,
        per_device_train_batch_size=2,
    )
    harmless = logged_preferences(trainer, "harmless")
    assert len(harmless) == 3
    if support == "labelled":
        assert harmless == [0.0, 0.0, 0.0]
    else:
        assert all(weight > 0 for weight in harmless)


def test_labelled_support_needs_per_sample_preferences(tmp_path):
    with pytest.raises(ValueError, match="preference_granularity='sample'"):
        PanaceaDPOConfig(output_dir=str(tmp_path), preference_support="labelled")
    with pytest.raises(ValueError, match="preference_support"):
        PanaceaDPOConfig(output_dir=str(tmp_path), preference_support="face", preference_granularity="sample")
