"""The tuner through PEFT's public API: injection, layer math, registration and adapter management."""

import subprocess
import sys

import pytest
import torch
from peft import PeftModel, PeftType, get_peft_model
from peft.mapping import PEFT_TYPE_TO_TUNER_MAPPING

import peft_panacea
from peft_panacea import PanaceaConfig, PanaceaLinear, PanaceaModel

from .models import MODEL_FACTORIES, panacea_model, perturb_adapter, tiny_llama


def test_import_registers_once_and_is_idempotent():
    peft_panacea.register()
    peft_panacea.register()
    assert PeftType("PANACEA") is PeftType.PANACEA
    assert PEFT_TYPE_TO_TUNER_MAPPING["PANACEA"] is PanaceaModel
    assert list(PeftType).count(PeftType.PANACEA) == 1


def test_fresh_adapter_leaves_base_output_unchanged(arch, input_ids):
    base = MODEL_FACTORIES[arch](0)
    expected = base(input_ids).logits
    model = get_peft_model(base, PanaceaConfig(pref_dim=2, task_type="CAUSAL_LM"))
    model.set_preference([0.9, 0.1])
    assert torch.equal(model(input_ids).logits, expected)


def test_default_targets_cover_attention_and_mlp(arch):
    model = panacea_model(arch)
    adapted = {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, PanaceaLinear)}
    expected = {
        "llama": {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"},
        "gpt2": {"c_attn", "c_proj", "c_fc"},
    }[arch]
    assert adapted == expected


def test_trainable_parameter_count_matches_formula(arch, capsys):
    r, m = 4, 3
    model = panacea_model(arch, r=r, pref_dim=m)
    expected = sum(
        (r + m) * (layer.in_features + layer.out_features) + r + 1
        for layer in model.modules()
        if isinstance(layer, PanaceaLinear)
    )
    trainable, _ = model.get_nb_trainable_parameters()
    assert trainable == expected
    model.print_trainable_parameters()
    assert f"trainable params: {expected:,}" in capsys.readouterr().out


def test_layer_output_matches_the_formula():
    model = panacea_model("llama", r=3, pref_dim=2, lora_alpha=6)
    model.set_preference([0.25, 0.75])
    layer = model.base_model.model.model.layers[0].self_attn.q_proj
    x = torch.randn(2, 5, layer.in_features)
    sigma = layer.panacea_E["default"].weight
    s = layer.panacea_E["default"].pref_scale
    diag = torch.cat([sigma, s * torch.tensor([0.25, 0.75])])
    up, down = layer.panacea_B["default"].weight, layer.panacea_A["default"].weight
    expected = layer.base_layer(x) + (6 / 3) * x @ (up @ torch.diag(diag) @ down).T
    torch.testing.assert_close(layer(x), expected)


def test_preference_changes_output_and_adapter_can_be_disabled(arch, input_ids):
    model = panacea_model(arch)
    base = MODEL_FACTORIES[arch](0)(input_ids).logits
    model.set_preference([1.0, 0.0])
    first = model(input_ids).logits
    model.set_preference([0.0, 1.0])
    second = model(input_ids).logits
    assert not torch.allclose(first, second)
    with model.disable_adapter():
        assert torch.equal(model(input_ids).logits, base)
    torch.testing.assert_close(model(input_ids).logits, second)


def test_sigma_s_u_v_train_and_lambda_is_not_a_weight():
    model = panacea_model("llama")
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any("panacea_E.default.weight" in n for n in names)
    assert any("panacea_E.default.pref_scale" in n for n in names)
    assert all("pref" not in n or n.endswith("pref_scale") for n in names)
    assert not list(model.buffers()) or all("panacea" not in n for n, _ in model.named_buffers())
    model.train()
    out = model(torch.randint(3, 90, (2, 6)), labels=torch.randint(3, 90, (2, 6)))
    out.loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert all(g.abs().sum() > 0 for n, g in grads.items() if "panacea_A" in n or "panacea_B" in n)


def test_set_preference_is_shared_by_every_layer():
    model = panacea_model("llama")
    model.set_preference([0.1, 0.9])
    states = {id(m.panacea_pref["default"]) for m in model.modules() if isinstance(m, PanaceaLinear)}
    assert len(states) == 1
    layer = next(m for m in model.modules() if isinstance(m, PanaceaLinear))
    assert layer.panacea_pref["default"].value.tolist() == [0.10000000149011612, 0.8999999761581421]


def test_target_selection_options():
    model = panacea_model("llama", target_modules=["q_proj", "v_proj"], layers_to_transform=[1])
    adapted = sorted(n for n, m in model.named_modules() if isinstance(m, PanaceaLinear))
    assert adapted == [
        "base_model.model.model.layers.1.self_attn.q_proj",
        "base_model.model.model.layers.1.self_attn.v_proj",
    ]
    model = panacea_model("llama", target_modules="all-linear", exclude_modules=["down_proj"])
    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, PanaceaLinear)}
    assert "down_proj" not in names and "q_proj" in names and "lm_head" not in names


def test_multiple_adapters_add_set_delete(input_ids):
    model = panacea_model("llama")
    model.add_adapter("other", PanaceaConfig(pref_dim=3, task_type="CAUSAL_LM"))
    perturb_adapter(model, seed=5)
    model.set_adapter("other")
    model.set_preference([0.2, 0.3, 0.5])
    assert model.get_preference().tolist() == torch.tensor([0.2, 0.3, 0.5]).tolist()
    other = model(input_ids).logits
    model.set_adapter("default")
    assert model.get_preference().shape == (2,)
    assert not torch.allclose(model(input_ids).logits, other)
    model.delete_adapter("other")
    assert "other" not in model.peft_config
    assert all("other" not in n for n, _ in model.named_parameters())


def test_merge_and_unload_and_unload(arch, input_ids):
    model = panacea_model(arch)
    model.set_preference([0.3, 0.7])
    expected = model(input_ids).logits
    merged = model.merge_and_unload()
    assert not any(isinstance(m, PanaceaLinear) for m in merged.modules())
    torch.testing.assert_close(merged(input_ids).logits, expected, atol=1e-5, rtol=1e-5)

    model = panacea_model(arch)
    base = MODEL_FACTORIES[arch](0)(input_ids).logits
    assert torch.equal(model.unload()(input_ids).logits, base)


def test_orthogonal_regularization_has_gradient_and_vanishes_when_orthonormal():
    model = panacea_model("llama", r=2, pref_dim=2)
    penalty = model.orthogonal_regularization()
    assert penalty.dim() == 0 and penalty.item() > 0
    penalty.backward()
    assert any(p.grad is not None for n, p in model.named_parameters() if "panacea_A" in n)
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, PanaceaLinear):
                q, _ = torch.linalg.qr(torch.randn(layer.in_features, 4))
                layer.panacea_A["default"].weight.copy_(q.T)
                q, _ = torch.linalg.qr(torch.randn(layer.out_features, 4))
                layer.panacea_B["default"].weight.copy_(q)
    assert model.orthogonal_regularization().item() < 1e-5


def test_orth_reg_weight_is_added_to_a_training_loss():
    ids = torch.randint(3, 90, (2, 6))
    plain = panacea_model("llama").train()
    weighted = panacea_model("llama", orth_reg_weight=0.5).train()
    loss_plain = plain(ids, labels=ids).loss
    loss_weighted = weighted(ids, labels=ids).loss
    expected = loss_plain + 0.5 * weighted.orthogonal_regularization()
    torch.testing.assert_close(loss_weighted, expected)


def test_loading_without_import_fails_inside_peft(tmp_path):
    model = panacea_model("llama")
    model.save_pretrained(tmp_path / "adapter")
    tiny_llama(0).save_pretrained(tmp_path / "base")
    script = f"""
import sys
from transformers import AutoModelForCausalLM
from peft import PeftModel
base = AutoModelForCausalLM.from_pretrained({str(tmp_path / "base")!r})
try:
    PeftModel.from_pretrained(base, {str(tmp_path / "adapter")!r})
except KeyError as err:
    assert "peft_panacea" not in sys.modules
    print("KeyError", err)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "KeyError 'PANACEA'" in out.stdout


def test_peft_model_wraps_the_panacea_tuner():
    model = panacea_model("llama")
    assert isinstance(model, PeftModel)
    assert isinstance(model.base_model, PanaceaModel)
    assert "preference" in model.special_peft_forward_args


def _layer(model) -> PanaceaLinear:
    return next(m for m in model.modules() if isinstance(m, PanaceaLinear))


def _first_gradients(init) -> dict[str, torch.Tensor]:
    model = get_peft_model(tiny_llama(0), PanaceaConfig(pref_dim=2, init_panacea_weights=init, task_type="CAUSAL_LM"))
    model.train()
    model.set_preference([0.5, 0.5])
    ids = torch.randint(3, 90, (2, 6))
    model(input_ids=ids, labels=ids).loss.backward()
    layer = _layer(model)
    return {
        "U": layer.panacea_B["default"].weight.grad,
        "V": layer.panacea_A["default"].weight.grad,
        "diag": layer.panacea_E["default"].weight.grad,
    }


def test_default_init_starts_at_zero_and_trains_every_direction_from_the_first_step():
    layer = _layer(get_peft_model(tiny_llama(0), PanaceaConfig(pref_dim=2, task_type="CAUSAL_LM")))
    assert torch.equal(layer.panacea_B["default"].weight, torch.zeros_like(layer.panacea_B["default"].weight))
    assert torch.equal(layer.panacea_E["default"].weight, torch.ones(8))
    assert layer.panacea_E["default"].pref_scale.item() == 1.0
    assert layer.scaling["default"] == 2.0
    grads = _first_gradients(True)
    assert (grads["U"].abs().sum(0) > 0).all()  # each of the k + m columns of U, the preference ones included


def test_paper_init_moves_only_the_singular_values_at_the_first_step():
    layer = _layer(
        get_peft_model(tiny_llama(0), PanaceaConfig(pref_dim=2, init_panacea_weights="paper", task_type="CAUSAL_LM"))
    )
    assert layer.panacea_E["default"].weight.abs().sum() == 0 and layer.panacea_E["default"].pref_scale.item() == 0
    assert layer.panacea_B["default"].weight.std().item() == pytest.approx(0.02, rel=0.2)
    assert layer.scaling["default"] == 64.0
    grads = _first_gradients("paper")
    assert grads["U"].abs().sum() == 0 and grads["V"].abs().sum() == 0 and grads["diag"].abs().sum() > 0


def test_random_init_is_not_the_identity(input_ids):
    base = tiny_llama(0)
    expected = base(input_ids).logits
    model = get_peft_model(base, PanaceaConfig(pref_dim=2, init_panacea_weights=False, task_type="CAUSAL_LM")).eval()
    first = model(input_ids, preference=[1.0, 0.0]).logits
    assert not torch.allclose(first, expected) and not torch.allclose(
        first, model(input_ids, preference=[0, 1]).logits
    )
