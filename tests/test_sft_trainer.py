"""PanaceaSFTTrainer: per-objective NLL combined with the preference, training, reload and bad input."""

import math
import warnings

import pytest
import torch
from datasets import Dataset
from peft import PeftModel

from peft_panacea import PanaceaConfig, PanaceaSFTConfig, PanaceaSFTTrainer

from .models import perturb_adapter, tiny_llama, tiny_tokenizer, training_args


def styles(n: int = 8, objective=lambda i: ["chatty", "terse"][i % 2]) -> Dataset:
    return Dataset.from_list(
        [
            {
                "prompt": f"w{i} w{i + 1}",
                "completion": f" w{50 + i} w{51 + i} w{52 + i}" if i % 2 == 0 else f" w{10 + i}",
                "objective": objective(i),
            }
            for i in range(n)
        ]
    )


def make_trainer(tmp_path, dataset=None, **config_kwargs):
    config_kwargs = training_args(tmp_path / "out", **config_kwargs)
    peft_config = PanaceaConfig(pref_dim=2, preference_names=["chatty", "terse"], task_type="CAUSAL_LM")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return PanaceaSFTTrainer(
            model=tiny_llama(),
            args=PanaceaSFTConfig(**config_kwargs),
            train_dataset=dataset if dataset is not None else styles(),
            processing_class=tiny_tokenizer(),
            peft_config=peft_config,
        )


def sequence_nll(model, batch):
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    mask = labels != -100
    nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels.clamp(min=0), reduction="none")
    return (nll * mask).sum(1) / mask.sum(1)


@pytest.mark.parametrize("aggregation", ["linear", "tchebycheff"])
def test_loss_equals_hand_computation(tmp_path, aggregation):
    trainer = make_trainer(tmp_path, aggregation=aggregation, gradient_checkpointing=False)
    model = trainer.model.train()
    perturb_adapter(model, seed=2, scale=0.3)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    preference = torch.tensor([0.3, 0.7])
    trainer.next_preference = lambda batch_size, mode, labelled=None: preference
    got = trainer.compute_loss(model, dict(batch))
    model.set_preference(preference)
    nll = sequence_nll(model, batch)
    per_objective = torch.stack([nll[batch["objective"] == i].mean() for i in range(2)])
    weighted = preference * per_objective
    want = weighted.sum() if aggregation == "linear" else weighted.max()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_per_sample_preference_weights_each_row(tmp_path):
    trainer = make_trainer(tmp_path, preference_granularity="sample", gradient_checkpointing=False)
    model = trainer.model.train()
    perturb_adapter(model, seed=2, scale=0.3)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    preference = torch.tensor([[0.3, 0.7], [0.9, 0.1], [0.5, 0.5], [0.2, 0.8]])
    trainer.next_preference = lambda batch_size, mode, labelled=None: preference
    got = trainer.compute_loss(model, dict(batch))
    model.set_preference(preference)
    nll = sequence_nll(model, batch)
    want = (preference[torch.arange(4), batch["objective"]] * nll).mean()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("aggregation", ["linear", "tchebycheff", "smooth_tchebycheff"])
def test_training_changes_adapter_and_reloads(tmp_path, aggregation):
    trainer = make_trainer(tmp_path, aggregation=aggregation)
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert logs and all(math.isfinite(entry["loss"]) for entry in logs)
    assert {"objective_loss/chatty", "objective_loss/terse", "preference/terse"} <= logs[0].keys()
    trainer.save_model(str(tmp_path / "adapter"))
    reloaded = PeftModel.from_pretrained(tiny_llama(), tmp_path / "adapter").eval()
    reloaded.set_preference([0.0, 1.0])
    with reloaded.disable_adapter():
        base = reloaded(input_ids=torch.tensor([[5, 6, 7]])).logits
    assert not torch.allclose(reloaded(input_ids=torch.tensor([[5, 6, 7]])).logits, base)


@pytest.mark.parametrize(
    "dataset, message",
    [
        (styles().remove_columns("objective"), "no `objective` column"),
        (styles(objective=lambda i: "funny"), "row 0: `objective` = 'funny' is not one of the objectives"),
        (styles(objective=lambda i: i % 3), "row 2: `objective` = 2 must be an index in \\[0, 1\\]"),
    ],
)
def test_bad_dataset_raises_naming_column_and_row(tmp_path, dataset, message):
    with pytest.raises(ValueError, match=message):
        make_trainer(tmp_path, dataset=dataset)


def test_packing_is_refused():
    with pytest.raises(ValueError, match="packing=False"):
        PanaceaSFTConfig(output_dir="unused", report_to=[], packing=True)
