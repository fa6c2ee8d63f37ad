"""PanaceaGRPOTrainer / PanaceaRLOOTrainer: reward aggregation, preference consistency, training, bad configs."""

import functools
import inspect
import math
import warnings

import pytest
import torch
from datasets import Dataset

from peft_panacea import (
    PanaceaConfig,
    PanaceaGRPOConfig,
    PanaceaGRPOTrainer,
    PanaceaLinear,
    PanaceaRLOOConfig,
    PanaceaRLOOTrainer,
)

from .models import perturb_adapter, tiny_llama, tiny_tokenizer, training_args

TRAINERS = {"grpo": (PanaceaGRPOConfig, PanaceaGRPOTrainer), "rloo": (PanaceaRLOOConfig, PanaceaRLOOTrainer)}


def _share(completions, keep):
    shares = []
    for text in completions:
        words = [int(w[1:]) for w in text.split() if w.startswith("w") and w[1:].isdigit()]
        shares.append(sum(keep(w) for w in words) / max(1, len(words)))
    return shares


def low(prompts, completions, **kwargs):
    return _share(completions, lambda w: w < 48)


def high(prompts, completions, **kwargs):
    return _share(completions, lambda w: w >= 48)


def make_trainer(tmp_path, kind="grpo", reward_funcs=(low, high), names=("low", "high"), **config_kwargs):
    config_cls, trainer_cls = TRAINERS[kind]
    config_kwargs = training_args(
        tmp_path / "out", num_generations=4, max_completion_length=6, learning_rate=1e-2, **config_kwargs
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return trainer_cls(
            model=tiny_llama(),
            reward_funcs=list(reward_funcs),
            args=config_cls(**config_kwargs),
            train_dataset=Dataset.from_list([{"prompt": f"w{i} w{i + 1}"} for i in range(16)]),
            processing_class=tiny_tokenizer(),
            peft_config=PanaceaConfig(
                pref_dim=2, preference_names=list(names) if names else None, task_type="CAUSAL_LM"
            ),
        )


REWARDS = {"a": [1.0, 3.0], "b": [2.0, 0.0], "c": [0.5, 0.5], "d": [4.0, 1.0]}


def lookup_first(prompts, completions, **kwargs):
    return [REWARDS[c][0] for c in completions]


def lookup_second(prompts, completions, **kwargs):
    return [REWARDS[c][1] for c in completions]


@pytest.mark.parametrize("aggregation", ["linear", "tchebycheff"])
def test_per_sample_aggregation_matches_hand_computation(tmp_path, aggregation):
    trainer = make_trainer(
        tmp_path,
        reward_funcs=(lookup_first, lookup_second),
        names=None,
        aggregation=aggregation,
        reward_normalization="none",
        tchebycheff_ideal_point=[5.0, 4.0],
        preference_granularity="group",
    )
    trainer.model.train()
    preference = torch.tensor([[0.2, 0.8], [0.2, 0.8], [0.7, 0.3], [0.7, 0.3]])
    trainer._rollout_preference = preference
    completions = ["a", "b", "c", "d"]
    inputs = [{"prompt": "p", "preference": row} for row in preference.tolist()]
    rewards = trainer._calculate_rewards(inputs, ["p"] * 4, completions, [[1]] * 4)
    raw = torch.tensor([REWARDS[c] for c in completions])
    torch.testing.assert_close(rewards[:, :2], raw)
    if aggregation == "linear":
        expected = (preference * raw).sum(-1)
    else:
        expected = (preference * (raw - torch.tensor([5.0, 4.0]))).min(-1).values
    torch.testing.assert_close(rewards[:, 2], expected)


def test_running_normalization_uses_the_statistics_of_all_rewards_seen(tmp_path):
    trainer = make_trainer(tmp_path, reward_funcs=(lookup_first, lookup_second), names=None)
    trainer.model.train()
    preference = torch.tensor([0.5, 0.5]).expand(4, -1)
    trainer._rollout_preference = preference
    rewards = trainer._calculate_rewards([{"prompt": "p"}] * 4, ["p"] * 4, list("abcd"), [[1]] * 4)
    raw = torch.tensor([REWARDS[c] for c in "abcd"])
    normalized = (raw - raw.mean(0)) / (raw.std(0) + 1e-4)
    torch.testing.assert_close(rewards[:, 2], (preference * normalized).sum(-1), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["grpo", "rloo"])
@pytest.mark.parametrize("granularity", ["batch", "group"])
def test_preference_is_the_same_in_generation_scoring_and_loss(tmp_path, kind, granularity):
    seen_by_reward = []

    def recording_low(prompts, completions, preference, **kwargs):
        seen_by_reward.append(torch.tensor(preference))
        return low(prompts, completions)

    recording_low.__name__ = "low"
    trainer = make_trainer(
        tmp_path, kind, reward_funcs=(recording_low, high), preference_granularity=granularity, max_steps=3
    )
    generation, loss = [], []
    layer = next(m for m in trainer.model.modules() if isinstance(m, PanaceaLinear))

    def record(module, args):
        if module.disable_adapters:
            return
        value = module.panacea_pref["default"].value.clone()
        (loss if torch.is_grad_enabled() else generation).append(value)

    layer.register_forward_pre_hook(record)
    trainer.train()
    assert len(seen_by_reward) == 3
    per_row = [r if r.dim() == 2 else r.expand(4, -1) for r in seen_by_reward]
    used_in_generation = {tuple(map(tuple, g.reshape(-1, 2).tolist())) for g in generation}
    used_in_loss = {tuple(map(tuple, g.reshape(-1, 2).tolist())) for g in loss}
    for rows in per_row:
        expected = rows[0:1] if granularity == "batch" else rows
        assert tuple(map(tuple, expected.tolist())) in used_in_generation
        if granularity == "batch":
            assert tuple(map(tuple, expected.tolist())) in used_in_loss
        else:  # the loss sees the rollout's rows, shuffled: same multiset of preferences
            assert any(sorted(map(tuple, expected.tolist())) == sorted(g) for g in used_in_loss)
    if granularity == "group":
        assert all(torch.equal(rows[0], rows[i]) for rows in seen_by_reward for i in range(4))  # one prompt group


@pytest.mark.parametrize("kind", ["grpo", "rloo"])
@pytest.mark.parametrize("aggregation", ["linear", "tchebycheff", "smooth_tchebycheff"])
def test_training_runs_with_gradient_checkpointing(tmp_path, kind, aggregation):
    trainer = make_trainer(tmp_path, kind, aggregation=aggregation, gradient_checkpointing=True, orth_reg_weight=0.01)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 2 and all(math.isfinite(entry["loss"]) for entry in logs)
    keys = {"rewards/low/mean", "rewards/high/mean", "rewards/panacea_scalarized/mean", "preference/low"}
    assert keys <= logs[0].keys()
    assert any(not torch.equal(p, before[n]) for n, p in trainer.model.named_parameters() if p.requires_grad)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"reward_funcs": (low,)}, "1 reward functions for an adapter with pref_dim=2"),
        ({"reward_funcs": (high, low)}, "Reward function 0 is named 'high' but objective 0 is 'low'"),
        ({"preference_granularity": "group", "use_vllm": True}, "use_vllm=True"),
        ({"preference_granularity": "sample"}, "`preference_granularity` must be one of \\('batch', 'group'\\)"),
        ({"reward_weights": [1.0, 1.0]}, "leave `reward_weights` unset"),
        ({"reward_normalization": "group", "tchebycheff_ideal_point": [1.0, 1.0]}, "cannot follow per-group"),
        ({"reward_normalization": "minmax"}, "`reward_normalization` must be one of"),
    ],
)
def test_bad_configurations_raise(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_trainer(tmp_path, **kwargs)


def test_per_group_preferences_refuse_tools(tmp_path):
    with pytest.raises(ValueError, match="'tools'"):
        PanaceaGRPOTrainer._check_generation_backend(
            PanaceaGRPOConfig(output_dir=str(tmp_path), report_to=[], bf16=False, preference_granularity="group"),
            {"tools": [len]},
        )


def spiky_low(prompts, completions, **kwargs):
    """The ``low`` reward, but the first completion of every batch scores +inf."""
    values = low(prompts, completions)
    return [math.inf, *values[1:]]


spiky_low.__name__ = "low"


def silent_high(prompts, completions, **kwargs):
    return [None] * len(completions)


silent_high.__name__ = "high"


@pytest.mark.parametrize("kind", ["grpo", "rloo"])
def test_an_infinite_reward_is_unscored_and_never_poisons_the_running_moments(tmp_path, kind):
    trainer = make_trainer(tmp_path, kind, reward_funcs=(spiky_low, high), max_steps=3)
    with pytest.warns(UserWarning, match="objective 'low' returned 1 non-finite rewards"):
        trainer.train()
    moments = trainer.reward_moments
    assert torch.isfinite(moments.mean).all() and torch.isfinite(moments.std).all()
    assert moments.count.tolist() == [3 * 3, 3 * 4]  # the infinite one per step is left out, the rest counted
    assert all(math.isfinite(entry["loss"]) for entry in trainer.state.log_history if "loss" in entry)


def test_an_objective_without_any_finite_reward_is_reported_every_step(tmp_path):
    trainer = make_trainer(tmp_path, reward_funcs=(low, silent_high), max_steps=2)
    with pytest.warns(UserWarning, match="objective 'high' returned no finite reward") as record:
        trainer.train()
    assert sum("no finite reward" in str(w.message) for w in record) == 2


def test_chunked_no_grad_passes_use_each_chunks_preference_rows(tmp_path):
    trainer = make_trainer(tmp_path, preference_granularity="group")
    model = trainer.model
    perturb_adapter(model)
    ids = torch.randint(3, 90, (4, 6), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    trainer.panacea_model.set_preference(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.2, 0.8]]))
    with torch.no_grad():
        whole = trainer._get_per_token_logps_and_entropies(model, ids, mask, 3)[0]
        chunked = trainer._get_per_token_logps_and_entropies(
            model, ids, attention_mask=mask, logits_to_keep=3, batch_size=2
        )
    torch.testing.assert_close(chunked[0], whole)
    assert trainer.panacea_model.get_preference().shape == (4, 2)  # restored after the chunks


class Scorer:
    """A callable object named like an objective."""

    def __init__(self, name, fn):
        self.__name__, self.fn = name, fn

    def __call__(self, prompts, completions, **kwargs):
        return self.fn(prompts, completions)


@pytest.mark.parametrize(
    "reward_funcs",
    [
        (functools.partial(high), functools.partial(low)),  # partials of swapped functions
        (Scorer("high", high), Scorer("low", low)),  # callable objects named after swapped objectives
    ],
)
def test_swapped_objectives_are_caught_through_partials_and_callable_objects(tmp_path, reward_funcs):
    with pytest.raises(ValueError, match="Reward function 0 is named 'high' but objective 0 is 'low'"):
        make_trainer(tmp_path, reward_funcs=reward_funcs)


def test_unnamed_reward_callables_in_the_right_order_are_accepted(tmp_path):
    anonymous = lambda prompts, completions, **kwargs: low(prompts, completions)  # noqa: E731
    trainer = make_trainer(tmp_path, reward_funcs=(anonymous, Scorer("high", high)))
    assert inspect.unwrap(trainer.reward_funcs[0]) is anonymous  # used, behind the output-type check


@pytest.mark.parametrize("kind", ["grpo", "rloo"])
def test_the_callers_reward_lists_are_left_as_given(tmp_path, kind):
    """A user who builds a second trainer (or a TRL baseline) from the same lists must get them unchanged."""
    config_cls, trainer_cls = TRAINERS[kind]
    rewards, classes = [low, high], [None, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = trainer_cls(
            model=tiny_llama(),
            reward_funcs=rewards,
            reward_processing_classes=classes,
            args=config_cls(**training_args(tmp_path / "out", num_generations=4, max_completion_length=6)),
            train_dataset=Dataset.from_list([{"prompt": f"w{i} w{i + 1}"} for i in range(16)]),
            processing_class=tiny_tokenizer(),
            peft_config=PanaceaConfig(pref_dim=2, preference_names=["low", "high"], task_type="CAUSAL_LM"),
        )
    assert rewards == [low, high] and classes == [None, None]
    assert len(trainer.reward_funcs) == 3  # the trainer's own copy holds its placeholder
