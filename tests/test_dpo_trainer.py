"""PanaceaDPOTrainer: loss against a hand computation, training, saving, reloading, and bad input."""

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset
from peft import PeftModel, get_peft_model

from peft_panacea import PanaceaConfig
from peft_panacea.trainer import PanaceaDPOConfig, PanaceaDPOTrainer

from .models import dpo_pairs, perturb_adapter, tiny_llama, tiny_tokenizer, training_args

LABELS = [[1, -1], [1, 0], [-1, 1], [0, 1]]


def pairs(n: int = 8, labels=None) -> Dataset:
    return dpo_pairs(n, labels or LABELS)


def make_trainer(tmp_path, dataset=None, model=None, peft_config="default", **config_kwargs):
    config_kwargs = training_args(tmp_path / "out", beta=0.5, **config_kwargs)
    if peft_config == "default":
        peft_config = PanaceaConfig(pref_dim=2, task_type="CAUSAL_LM", preference_names=["helpful", "harmless"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return PanaceaDPOTrainer(
            model=model if model is not None else tiny_llama(),
            args=PanaceaDPOConfig(**config_kwargs),
            train_dataset=dataset if dataset is not None else pairs(),
            processing_class=tiny_tokenizer(),
            peft_config=peft_config,
        )


def sequence_logps(model, batch):
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    token_logps = logits.log_softmax(-1).gather(-1, batch["input_ids"][:, 1:].unsqueeze(-1)).squeeze(-1)
    return (token_logps * batch["completion_mask"][:, 1:]).sum(1).chunk(2)


def expected_loss(model, batch, preference, beta, aggregation, mu=0.1, loss_type="sigmoid"):
    rows = torch.cat([preference, preference]) if preference.dim() == 2 else preference
    model.set_preference(rows)
    chosen, rejected = sequence_logps(model, batch)
    with model.disable_adapter():
        ref_chosen, ref_rejected = sequence_logps(model, batch)
    labels = batch["preference_labels"]
    if loss_type == "ipo":  # per-token log-ratios (TRL's IPO), pulled to 1 / (2 beta)
        chosen_len, rejected_len = batch["completion_mask"].sum(1).chunk(2)
        margin = (chosen - ref_chosen) / chosen_len - (rejected - ref_rejected) / rejected_len
        losses = (labels * margin[:, None] - 1 / (2 * beta)) ** 2
    else:
        margin = (chosen - ref_chosen) - (rejected - ref_rejected)
        signed = beta * labels * margin[:, None]
        losses = torch.relu(1 - signed) if loss_type == "hinge" else -F.logsigmoid(signed)
    mask = labels != 0
    if preference.dim() == 1:
        per_objective = [(losses[:, i][mask[:, i]]).mean() for i in range(2)]
        gaps = [preference[i] * per_objective[i] for i in range(2)]
        if aggregation == "linear":
            return sum(gaps)
        if aggregation == "tchebycheff":
            return max(gaps)
        return mu * torch.logsumexp(torch.stack(gaps) / mu, 0)
    assert aggregation == "linear"
    return sum((preference[b] * losses[b] * mask[b]).sum() for b in range(len(labels))) / len(labels)


@pytest.mark.parametrize(
    "aggregation, granularity, loss_type",
    [
        ("linear", "batch", "sigmoid"),
        ("tchebycheff", "batch", "sigmoid"),
        ("smooth_tchebycheff", "batch", "sigmoid"),
        ("linear", "sample", "sigmoid"),
        ("linear", "batch", "hinge"),
        ("linear", "batch", "ipo"),
        ("linear", "sample", "ipo"),
    ],
)
def test_loss_equals_hand_computation(tmp_path, aggregation, granularity, loss_type):
    trainer = make_trainer(
        tmp_path,
        aggregation=aggregation,
        preference_granularity=granularity,
        gradient_checkpointing=False,
        loss_type=loss_type,
    )
    model = trainer.model.train()
    perturb_adapter(model, seed=3, scale=0.3)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    preference = (
        torch.tensor([0.3, 0.7])
        if granularity == "batch"
        else torch.tensor([[0.3, 0.7], [0.9, 0.1], [0.5, 0.5], [0.2, 0.8]])
    )
    trainer.next_preference = lambda batch_size, mode, labelled=None: preference
    got = trainer.compute_loss(model, batch)
    want = expected_loss(model, batch, preference, trainer.beta, aggregation, loss_type=loss_type)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    assert got.requires_grad


def test_gradients_identical_with_and_without_gradient_checkpointing(tmp_path):
    grads = []
    for checkpointing in (False, True):
        trainer = make_trainer(tmp_path, gradient_checkpointing=checkpointing)
        model = trainer.model.train()
        perturb_adapter(model, seed=3, scale=0.3)
        batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
        trainer.next_preference = lambda batch_size, mode, labelled=None: torch.tensor([0.3, 0.7])
        trainer.compute_loss(model, batch).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad})
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(
    "aggregation, loss_type",
    [("linear", "sigmoid"), ("tchebycheff", "sigmoid"), ("smooth_tchebycheff", "sigmoid"), ("linear", "ipo")],
)
def test_training_changes_adapter_and_reloads(tmp_path, aggregation, loss_type):
    trainer = make_trainer(
        tmp_path,
        aggregation=aggregation,
        loss_type=loss_type,
        preference_sampling="vertex",
        orth_reg_weight=0.01,
        gradient_accumulation_steps=2,
    )
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 2 and all(math.isfinite(entry["loss"]) for entry in logs)
    assert {"objective_loss/helpful", "objective_loss/harmless", "preference/helpful"} <= logs[0].keys()
    changed = [n for n, p in trainer.model.named_parameters() if p.requires_grad and not torch.equal(p, before[n])]
    assert any("panacea_E" in n for n in changed)

    trainer.save_model(str(tmp_path / "adapter"))
    reloaded = PeftModel.from_pretrained(tiny_llama(), tmp_path / "adapter").eval()
    trained = trainer.model.eval()
    ids = torch.randint(3, 90, (2, 6))
    for pref in ([1.0, 0.0], [0.25, 0.75]):
        trained.set_preference(pref)
        reloaded.set_preference(pref)
        torch.testing.assert_close(reloaded(input_ids=ids).logits, trained(input_ids=ids).logits)


def test_prewrapped_model_drops_ref_adapter_and_trains_per_sample(tmp_path):
    model = get_peft_model(tiny_llama(), PanaceaConfig(pref_dim=2, task_type="CAUSAL_LM"))
    trainer = make_trainer(tmp_path, model=model, peft_config=None, preference_granularity="sample")
    assert list(trainer.model.peft_config) == ["default"]
    state = trainer.model.base_model.preference_states["default"]
    shapes = []
    layer = next(m for m in trainer.model.modules() if hasattr(m, "panacea_pref"))
    layer.register_forward_pre_hook(lambda module, args: shapes.append(tuple(state.value.shape)))
    trainer.train()
    assert (8, 2) in shapes  # 4 pairs -> 8 rows, one preference per pair
    assert trainer.model.get_preference().tolist() == [0.5, 0.5]  # the adapter's own preference is given back


@pytest.mark.parametrize(
    "dataset, message",
    [
        (pairs().remove_columns("preference_labels"), "no `preference_labels` column"),
        (pairs(labels=[[1, -1, 1]]), "row 0: `preference_labels` = \\[1, -1, 1\\] must have 2 values"),
        (pairs(labels=[[1, -1], [2, 0]]), "row 1: .* values \\[2\\] outside"),
    ],
)
def test_bad_dataset_raises_naming_column_and_row(tmp_path, dataset, message):
    with pytest.raises(ValueError, match=message):
        make_trainer(tmp_path, dataset=dataset)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"aggregation": "max"}, "`aggregation` must be one of"),
        ({"preference_sampling": "beta"}, "`preference_sampling` must be one of"),
        ({"preference_granularity": "token"}, "`preference_granularity` must be one of"),
        ({"loss_type": ["sigmoid", "ipo"]}, "supports a single loss_type"),
        ({"loss_type": "exo_pair"}, "supports a single loss_type"),
        ({"smooth_tchebycheff_mu": 0}, "smooth_tchebycheff_mu"),
    ],
)
def test_bad_config_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PanaceaDPOConfig(output_dir="unused", report_to=[], **kwargs)


def test_trainer_requires_a_panacea_adapter(tmp_path):
    from peft import LoraConfig

    with pytest.raises(ValueError, match="PanaceaConfig"):
        make_trainer(tmp_path, peft_config=LoraConfig(r=4))
    with pytest.raises(ValueError, match="tchebycheff_ideal_point` has 3 values"):
        make_trainer(tmp_path, tchebycheff_ideal_point=[0.0, 0.0, 0.0])


def test_precomputed_reference_matches_on_the_fly_reference(tmp_path):
    model = get_peft_model(tiny_llama(), PanaceaConfig(pref_dim=2, task_type="CAUSAL_LM"))
    perturb_adapter(model, seed=4, scale=0.3)  # a trained adapter: TRL's "ref" copy would differ from the base
    trainer = make_trainer(
        tmp_path, model=model, peft_config=None, precompute_ref_log_probs=True, gradient_checkpointing=False
    )
    assert list(trainer.model.peft_config) == ["default"]
    rows = [trainer.train_dataset[i] for i in range(4)]
    assert "ref_chosen_logps" in rows[0]
    batch = trainer.data_collator(rows)
    trainer.next_preference = lambda batch_size, mode, labelled=None: torch.tensor([0.5, 0.5])
    precomputed = trainer.compute_loss(trainer.model, batch)
    trainer.precompute_ref_logps = False
    torch.testing.assert_close(trainer.compute_loss(trainer.model, batch), precomputed)
