"""Streamed (iterable) datasets get the same row checks as map-style ones: the collator checks every row."""

import warnings
from pathlib import Path

import pytest
from datasets import Dataset, IterableDataset

from peft_panacea import PanaceaConfig
from peft_panacea.trainer import PanaceaDPOConfig, PanaceaDPOTrainer

from .models import dpo_pairs, tiny_llama, tiny_tokenizer, training_args
from .test_sft_trainer import make_trainer as sft_trainer
from .test_sft_trainer import styles


def stream(dataset: Dataset) -> IterableDataset:
    """A stream whose columns are unknown until it is read, like a generator or a remote streamed dataset."""
    rows = dataset.to_list()
    return IterableDataset.from_generator(lambda: iter(rows))


def dpo_trainer(tmp_path: Path, dataset) -> PanaceaDPOTrainer:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return PanaceaDPOTrainer(
            model=tiny_llama(),
            args=PanaceaDPOConfig(**training_args(tmp_path / "out", beta=0.5)),
            train_dataset=dataset,
            processing_class=tiny_tokenizer(),
            peft_config=PanaceaConfig(pref_dim=2, task_type="CAUSAL_LM"),
        )


@pytest.mark.parametrize(
    "labels, message",
    [
        ([[1, -1], [5, -5]], "Row 1 of a batch: `preference_labels` = \\[5, -5\\] has values \\[5, -5\\] outside"),
        ([[1, -1, 1]], "Row 0 of a batch: .* must have 2 values"),
        (1, "Row 0 of a batch: `preference_labels` = 1 must be a list of 2 values"),
    ],
)
def test_streamed_dpo_labels_are_checked(tmp_path, labels, message):
    if isinstance(labels, int):  # a scalar per row
        rows = [{**row, "preference_labels": labels} for row in dpo_pairs(8).to_list()]
        dataset = IterableDataset.from_generator(lambda: iter(rows))
    else:
        dataset = stream(dpo_pairs(8, labels))
    trainer = dpo_trainer(tmp_path, dataset)
    with pytest.raises(ValueError, match=message):
        trainer.train()


def test_streamed_dpo_rows_without_labels_are_named(tmp_path):
    trainer = dpo_trainer(tmp_path, stream(dpo_pairs(8).remove_columns("preference_labels")))
    with pytest.raises(ValueError, match="Row 0 of a batch has no `preference_labels`"):
        trainer.train()


def test_streamed_all_zero_labels_warn_and_a_map_style_dataset_of_them_is_refused(tmp_path):
    trainer = dpo_trainer(tmp_path, stream(dpo_pairs(8, [[0, 0]])))
    with pytest.warns(UserWarning, match="all 0: its loss is 0"):
        trainer.train()
    with pytest.raises(ValueError, match="Every row of train_dataset has `preference_labels` all 0"):
        dpo_trainer(tmp_path, dpo_pairs(8, [[0, 0]]))
    with pytest.warns(UserWarning, match="4 of 8 rows of train_dataset have `preference_labels` all 0"):
        PanaceaDPOTrainer(
            model=tiny_llama(),
            args=PanaceaDPOConfig(**training_args(tmp_path / "out", beta=0.5)),
            train_dataset=dpo_pairs(8, [[0, 0], [1, -1]]),
            processing_class=tiny_tokenizer(),
            peft_config=PanaceaConfig(pref_dim=2, task_type="CAUSAL_LM"),
        )


def test_a_valid_dpo_stream_trains(tmp_path):
    trainer = dpo_trainer(tmp_path, stream(dpo_pairs(8, [[1, -1], [0, 1]])))
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 2 and all(loss > 0 for loss in losses)


def test_streamed_sft_objective_names_map_to_indices(tmp_path):
    trainer = sft_trainer(tmp_path, dataset=stream(styles()))
    trainer.train()
    logged = {key for entry in trainer.state.log_history for key in entry}
    assert {"objective_loss/chatty", "objective_loss/terse"} <= logged


@pytest.mark.parametrize(
    "objective, message",
    [
        (lambda i: "funny", "Row 0 of a batch: `objective` = 'funny' is not one of the objectives"),
        (lambda i: i % 3, "Row 2 of a batch: `objective` = 2 must be an index in \\[0, 1\\]"),
    ],
)
def test_streamed_sft_objectives_are_checked(tmp_path, objective, message):
    trainer = sft_trainer(tmp_path, dataset=stream(styles(objective=objective)))
    with pytest.raises(ValueError, match=message):
        trainer.train()


def test_a_stream_is_not_read_before_training(tmp_path):
    """Checking a stream up front would read (for a remote dataset: download) all of it; TRL only peeks at its
    first row, to tell the data format."""
    read = []

    def rows():
        for row in dpo_pairs(64).to_list():
            read.append(row)
            yield row

    streamed = IterableDataset.from_generator(rows).cast(dpo_pairs(1).features)  # columns known up front
    assert streamed.column_names is not None
    dpo_trainer(tmp_path, streamed)
    assert {row["prompt"] for row in read} <= {"w0 w1"}
