"""Bad trainer input is refused before training starts (or, for what only a rollout produces, named when it
appears), with the column, row or reward function at fault."""

import warnings

import pytest
from datasets import Dataset

from peft_panacea import PanaceaConfig, PanaceaGRPOConfig, PanaceaGRPOTrainer, PanaceaRLOOConfig, PanaceaRLOOTrainer

from .models import dpo_pairs, tiny_llama, tiny_tokenizer, training_args
from .test_online_trainers import high, low
from .test_sft_trainer import make_trainer as sft_trainer
from .test_sft_trainer import styles
from .test_streamed_data import dpo_trainer

ONLINE = {"grpo": (PanaceaGRPOConfig, PanaceaGRPOTrainer), "rloo": (PanaceaRLOOConfig, PanaceaRLOOTrainer)}


def online_trainer(tmp_path, kind="grpo", rewards=(low, high), rows=None, **config_kwargs):
    config_cls, trainer_cls = ONLINE[kind]
    rows = rows if rows is not None else [{"prompt": f"w{i} w{i + 1}"} for i in range(8)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return trainer_cls(
            model=tiny_llama(),
            reward_funcs=list(rewards),
            args=config_cls(
                **training_args(tmp_path / "out", num_generations=4, max_completion_length=4, **config_kwargs)
            ),
            train_dataset=Dataset.from_list(rows) if rows else Dataset.from_dict({"prompt": []}),
            processing_class=tiny_tokenizer(),
            peft_config=PanaceaConfig(pref_dim=2, preference_names=["low", "high"], task_type="CAUSAL_LM"),
        )


def test_empty_datasets_are_refused(tmp_path):
    empty_pairs = dpo_pairs(1).select([])
    with pytest.raises(ValueError, match="train_dataset has no rows"):
        dpo_trainer(tmp_path, empty_pairs)
    with pytest.raises(ValueError, match="train_dataset has no rows"):
        sft_trainer(tmp_path, dataset=styles(1).select([]))
    with pytest.raises(ValueError, match="train_dataset has no rows"):
        online_trainer(tmp_path, rows=[])


@pytest.mark.parametrize(
    "dataset, message",
    [
        (dpo_pairs(4).remove_columns("rejected"), "train_dataset has no `rejected` column"),
        (dpo_pairs(4).remove_columns("chosen"), "train_dataset has no `chosen` column"),
        (
            dpo_pairs(4).remove_columns("preference_labels").add_column("preference_labels", [1, -1, 1, 1]),
            "train_dataset row 0: `preference_labels` = 1 must be a list of 2 values",
        ),
    ],
)
def test_dpo_columns_are_checked_up_front(tmp_path, dataset, message):
    with pytest.raises(ValueError, match=message):
        dpo_trainer(tmp_path, dataset)


def scalar(prompts, completions, **kwargs):
    return 0.5


def words(prompts, completions, **kwargs):
    return ["good" for _ in completions]


class AsyncScalar:
    """An async callable object, which TRL awaits."""

    __name__ = "async_scalar"

    async def __call__(self, prompts, completions, **kwargs):
        return 0.5


@pytest.mark.parametrize("kind", ["grpo", "rloo"])
@pytest.mark.parametrize(
    "bad, message",
    [
        (scalar, "Reward function 'scalar' \\(objective 1, 'high'\\) returned float 0.5 instead of a list"),
        (words, "Reward function 'words' \\(objective 1, 'high'\\) returned non-numeric rewards \\['good'"),
        (AsyncScalar(), "Reward function 'async_scalar' \\(objective 1, 'high'\\) returned float 0.5"),
    ],
)
def test_a_reward_function_returning_the_wrong_type_is_named(tmp_path, kind, bad, message):
    trainer = online_trainer(tmp_path, kind, rewards=(low, bad), check_reward_names=False)
    with pytest.raises(ValueError, match=message):
        trainer.train()


@pytest.mark.parametrize(
    "preference, message",
    [
        ([0.5, 0.6], "train_dataset row 3: Preference sums to 1.1"),
        ([0.5, 0.25, 0.25], "train_dataset row 3: Preference has length 3"),
        ([-1.0, 2.0], "train_dataset row 3: Preference contains negative weights"),
    ],
)
def test_a_bad_preference_column_row_is_refused_before_training(tmp_path, preference, message):
    rows = [{"prompt": f"w{i} w{i + 1}", "preference": [1.0, 0.0]} for i in range(8)]
    rows[3]["preference"] = preference
    with pytest.raises(ValueError, match=message):
        online_trainer(tmp_path, rows=rows, preference_granularity="group")


def test_a_preference_column_needs_per_group_preferences(tmp_path):
    rows = [{"prompt": f"w{i} w{i + 1}", "preference": [1.0, 0.0]} for i in range(8)]
    with pytest.raises(ValueError, match="`preference` column.*preference_granularity='group'"):
        online_trainer(tmp_path, rows=rows)
