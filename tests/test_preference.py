"""Setting the preference: input forms, validation, per-sample batches, per-call kwargs and generation."""

import numpy as np
import pytest
import torch

from peft_panacea import PanaceaConfig
from peft_panacea.sampling import preference_grid

from .models import MODEL_FACTORIES, panacea_model


def test_accepted_forms_are_equivalent(input_ids):
    model = panacea_model("llama", preference_names=["helpful", "harmless"])
    outputs = []
    for pref in (
        [0.3, 0.7],
        (0.3, 0.7),
        np.array([0.3, 0.7]),
        torch.tensor([0.3, 0.7], dtype=torch.float64),
        {"harmless": 0.7, "helpful": 0.3},
    ):
        model.set_preference(pref)
        assert model.get_preference().tolist() == pytest.approx([0.3, 0.7])
        outputs.append(model(input_ids).logits)
    for out in outputs[1:]:
        torch.testing.assert_close(out, outputs[0])


def test_initial_preference_comes_from_config():
    model = panacea_model("llama", pref_dim=3, init_preference=[0.2, 0.2, 0.6])
    assert model.get_preference().tolist() == pytest.approx([0.2, 0.2, 0.6])
    assert panacea_model("llama", pref_dim=4).get_preference().tolist() == pytest.approx([0.25] * 4)


@pytest.mark.parametrize(
    "pref, message",
    [
        ([0.2, 0.3, 0.5], "has length 3 but the adapter has pref_dim=2 \\(objectives: helpful, harmless\\)"),
        ([[[0.5, 0.5]]], "shape \\(m,\\) or \\(batch, m\\)"),
        ([float("nan"), 1.0], "NaN or infinite"),
        ([float("inf"), 0.0], "NaN or infinite"),
        ([-0.2, 1.2], "negative weights"),
        ([0.0, 0.0], "all zeros"),
        ([0.5, 0.6], "sums to 1.1 instead of 1.*normalize=True"),
        ([[0.5, 0.5], [0.5, 0.6]], "Rows \\[1\\] of the preference sum to \\[1.1\\] instead of 1"),
        ({"helpful": 0.5, "honest": 0.5}, "unknown names \\['honest'\\] and missing names \\['harmless'\\]"),
        ({"helpful": 1.0}, "missing names \\['harmless'\\]"),
        (torch.empty(0, 2), "0 rows"),
        (["a", "b"], "must be numeric"),
    ],
)
def test_bad_preferences_raise_and_keep_the_previous_one(pref, message):
    model = panacea_model("llama", preference_names=["helpful", "harmless"])
    model.set_preference([0.4, 0.6])
    with pytest.raises(ValueError, match=message):
        model.set_preference(pref)
    assert model.get_preference().tolist() == pytest.approx([0.4, 0.6])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, np.float16])
def test_half_precision_preferences_on_the_simplex_are_accepted(dtype):
    model = panacea_model("llama", pref_dim=3)
    grid = preference_grid(3, 11)
    rows = grid.numpy().astype(dtype) if dtype is np.float16 else grid.to(dtype)
    model.set_preference(rows)  # rounding to half precision moves the sums off 1 by more than 1e-4
    assert model.get_preference().shape == (66, 3)
    off = torch.tensor([0.5, 0.25, 0.2]).to(torch.float16 if dtype is np.float16 else dtype)
    with pytest.raises(ValueError, match="sums to 0.95"):
        model.set_preference(off)


def test_dict_without_names_is_rejected():
    model = panacea_model("llama")
    with pytest.raises(ValueError, match="needs `preference_names`"):
        model.set_preference({"a": 0.5, "b": 0.5})


def test_normalize_rescales_non_negative_weights():
    model = panacea_model("llama")
    model.set_preference([1, 3], normalize=True)
    assert model.get_preference().tolist() == pytest.approx([0.25, 0.75])
    model.set_preference(torch.tensor([[2.0, 2.0], [0.0, 5.0]]), normalize=True)
    torch.testing.assert_close(model.get_preference(), torch.tensor([[0.5, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="negative"):
        model.set_preference([-1, 3], normalize=True)


def test_per_sample_batch_equals_each_sample_alone(arch, input_ids):
    model = panacea_model(arch)
    prefs = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.1, 0.9]])
    model.set_preference(prefs)
    batched = model(input_ids).logits
    for row, pref in enumerate(prefs):
        model.set_preference(pref)
        torch.testing.assert_close(batched[row], model(input_ids[row : row + 1]).logits[0], atol=1e-5, rtol=1e-5)


def test_per_sample_rows_must_match_batch(input_ids):
    model = panacea_model("llama")
    model.set_preference(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    with pytest.raises(
        ValueError, match="2 rows but layer 'model.layers.0.self_attn.q_proj' sees an input of shape \\(3, 7, 32\\)"
    ):
        model(input_ids)


def test_preference_kwarg_applies_to_one_call_only(input_ids):
    model = panacea_model("llama")
    model.set_preference([0.5, 0.5])
    default = model(input_ids).logits
    via_kwarg = model(input_ids=input_ids, preference=[0.9, 0.1]).logits
    model.set_preference([0.9, 0.1])
    torch.testing.assert_close(via_kwarg, model(input_ids).logits)
    model.set_preference([0.5, 0.5])
    assert model.get_preference().tolist() == [0.5, 0.5]
    torch.testing.assert_close(model(input_ids).logits, default)
    per_sample = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    model.set_preference(per_sample)
    expected = model(input_ids).logits
    model.set_preference([0.5, 0.5])
    torch.testing.assert_close(model(input_ids=input_ids, preference=per_sample).logits, expected)


def test_preference_kwarg_is_refused_in_training_mode(input_ids):
    model = panacea_model("llama").train()
    with pytest.raises(ValueError, match="training mode.*set_preference"):
        model(input_ids=input_ids, preference=[0.5, 0.5])


def test_context_manager_is_refused_in_training_mode_and_changes_nothing():
    model = panacea_model("llama").train()
    model.set_preference([0.2, 0.8])
    with pytest.raises(ValueError, match="training mode.*model.eval\\(\\)"), model.preference([1.0, 0.0]):
        pass
    assert model.get_preference().tolist() == pytest.approx([0.2, 0.8])


def test_the_model_keeps_a_copy_of_a_preference_tensor(input_ids):
    model = panacea_model("llama").to(torch.bfloat16)
    mine = torch.tensor([0.3, 0.7])
    model.set_preference(mine)
    expected = model(input_ids=input_ids).logits
    mine[0] = float("nan")  # editing the caller's tensor afterwards must not reach the layers unchecked
    mine[1] = -5.0
    assert model.get_preference().tolist() == pytest.approx([0.3, 0.7])
    assert torch.equal(model(input_ids=input_ids).logits, expected)
    per_row = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    model.set_preference(per_row)
    per_row.fill_(0.5)
    assert model.get_preference().tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_context_manager_restores_previous_preference_even_on_error(input_ids):
    model = panacea_model("llama")
    model.set_preference([0.2, 0.8])
    with model.preference([1.0, 0.0]):
        assert model.get_preference().tolist() == [1.0, 0.0]
    assert model.get_preference().tolist() == pytest.approx([0.2, 0.8])
    with pytest.raises(RuntimeError, match="boom"), model.preference(torch.tensor([[1.0, 0.0]] * 3)):
        raise RuntimeError("boom")
    assert model.get_preference().tolist() == pytest.approx([0.2, 0.8])


def _generate_each(model, input_ids, prefs, **kwargs):
    rows = []
    for row, pref in enumerate(prefs):
        model.set_preference(pref)
        rows.append(model.generate(input_ids=input_ids[row : row + 1], **kwargs))
    return torch.cat(rows)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_new_tokens": 5, "do_sample": False},
        {"max_new_tokens": 5, "num_beams": 2, "num_return_sequences": 2, "do_sample": False},
        {"max_new_tokens": 5, "num_beams": 3, "num_return_sequences": 1, "do_sample": False},
    ],
)
def test_generate_with_per_sample_preference_matches_one_at_a_time(arch, input_ids, kwargs):
    model = panacea_model(arch, seed=3)
    model.generation_config.pad_token_id = 0
    model.generation_config.eos_token_id = None  # every row runs to max_new_tokens, so the rows line up
    prefs = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.3, 0.7]])
    batched = model.generate(input_ids=input_ids, preference=prefs, **kwargs)
    torch.testing.assert_close(batched, _generate_each(model, input_ids, prefs, **kwargs))


def test_generate_sampling_expands_per_sample_preference(input_ids):
    model = panacea_model("llama", seed=3)
    model.generation_config.pad_token_id = 0
    prefs = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.3, 0.7]])
    out = model.generate(
        input_ids=input_ids, preference=prefs, do_sample=True, num_return_sequences=2, max_new_tokens=4
    )
    assert out.shape[0] == 6
    assert model.get_preference().dim() == 1


def test_switching_preference_does_not_touch_parameters():
    model = panacea_model("llama")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.set_preference([0.1, 0.9])
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())


def _grads(model, ids):
    model.zero_grad()
    model(input_ids=ids, labels=ids).loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("per_sample", [False, True])
def test_gradient_checkpointing_gives_identical_gradients(input_ids, per_sample):
    pref = torch.tensor([[0.2, 0.8], [0.6, 0.4], [1.0, 0.0]]) if per_sample else torch.tensor([0.3, 0.7])
    plain = panacea_model("llama").train()
    plain.set_preference(pref)
    expected = _grads(plain, input_ids)
    for reentrant in (False, True):
        model = panacea_model("llama").train()
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": reentrant})
        model.enable_input_require_grads()
        model.set_preference(pref)
        got = _grads(model, input_ids)
        for name in expected:
            torch.testing.assert_close(got[name], expected[name], atol=1e-6, rtol=1e-5)


def test_changing_preference_before_backward_corrupts_checkpointed_gradients(input_ids):
    """Why trainers keep the preference set through backward: the recomputed forward reads it again."""
    plain = panacea_model("llama").train()
    plain.set_preference([0.3, 0.7])
    expected = _grads(plain, input_ids)
    model = panacea_model("llama").train()
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.set_preference([0.3, 0.7])
    loss = model(input_ids=input_ids, labels=input_ids).loss
    model.set_preference([0.9, 0.1])
    loss.backward()
    differs = [n for n, p in model.named_parameters() if p.requires_grad and not torch.allclose(p.grad, expected[n])]
    assert differs


def test_base_model_unchanged_by_preference_when_adapter_disabled(arch, input_ids):
    model = panacea_model(arch)
    base = MODEL_FACTORIES[arch](0)(input_ids).logits
    with model.disable_adapter():
        out = model(input_ids=input_ids, preference=[1.0, 0.0]).logits
    assert torch.equal(out, base)


def _tiny_moe():
    from transformers import Qwen2MoeConfig, Qwen2MoeForCausalLM

    torch.manual_seed(0)
    config = Qwen2MoeConfig(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        moe_intermediate_size=16,
        shared_expert_intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_experts=4,
        num_experts_per_tok=2,
    )
    return Qwen2MoeForCausalLM(config).eval()


def test_a_layer_that_sees_flattened_tokens_is_named_in_the_per_sample_error(input_ids):
    """An MoE shared expert sees (batch * tokens, hidden): per-sample rows cannot be matched to its rows."""
    from peft import get_peft_model

    targets = ["q_proj", "v_proj", "gate_proj"]
    model = get_peft_model(_tiny_moe(), PanaceaConfig(pref_dim=2, target_modules=targets)).eval()
    rows = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    with pytest.raises(
        ValueError, match="'model.layers.0.mlp.shared_expert.gate_proj' sees an input of shape \\(21, 32\\)"
    ):
        model(input_ids=input_ids, preference=rows)
    attention_only = get_peft_model(
        _tiny_moe(), PanaceaConfig(pref_dim=2, target_modules=targets, exclude_modules=["shared_expert.gate_proj"])
    ).eval()
    batched = attention_only(input_ids=input_ids, preference=rows).logits
    for i in range(3):
        one = attention_only(input_ids=input_ids[i : i + 1], preference=rows[i]).logits
        torch.testing.assert_close(batched[i : i + 1], one, atol=1e-5, rtol=1e-5)
