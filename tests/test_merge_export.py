"""Merging at one preference, and export to a plain LoRA that loads without peft_panacea."""

import json
import subprocess
import sys

import pytest
import torch

from .models import MODEL_FACTORIES, panacea_model


def test_merge_is_exact_and_unmerge_restores(arch, input_ids):
    model = panacea_model(arch)
    model.set_preference([0.35, 0.65])
    expected = model(input_ids).logits
    model.merge_adapter()
    torch.testing.assert_close(model(input_ids).logits, expected, atol=1e-5, rtol=1e-5)
    model.unmerge_adapter()
    torch.testing.assert_close(model(input_ids).logits, expected, atol=1e-5, rtol=1e-5)
    model.set_preference([1.0, 0.0])
    with model.disable_adapter():
        torch.testing.assert_close(
            model(input_ids).logits, MODEL_FACTORIES[arch](0)(input_ids).logits, atol=1e-5, rtol=1e-5
        )


def test_preference_cannot_change_while_merged(input_ids):
    model = panacea_model("llama")
    model.set_preference([0.35, 0.65])
    model.merge_adapter()
    with pytest.raises(RuntimeError, match="merged into the base weights.*unmerge_adapter"):
        model.set_preference([0.5, 0.5])
    model.eval()
    with pytest.raises(RuntimeError, match="unmerge_adapter"):
        model(input_ids=input_ids, preference=[0.5, 0.5])
    assert model.get_preference().tolist() == pytest.approx([0.35, 0.65])
    model.unmerge_adapter()
    model.set_preference([0.5, 0.5])


def test_merge_refuses_per_sample_preference():
    model = panacea_model("llama")
    model.set_preference(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="per-sample"):
        model.merge_adapter()
    with pytest.raises(ValueError, match="per-sample"):
        model.merge_and_unload()
    assert not any(getattr(m, "merged", False) for m in model.modules())


_LOAD_EXPORT_WITHOUT_PLUGIN = """
import sys, torch
from transformers import AutoModelForCausalLM
from peft import PeftModel
base = AutoModelForCausalLM.from_pretrained(sys.argv[1])
model = PeftModel.from_pretrained(base, sys.argv[2]).eval()
assert "peft_panacea" not in sys.modules
logits = model(input_ids=torch.load(sys.argv[3])).logits
torch.testing.assert_close(logits, torch.load(sys.argv[4]), atol=1e-5, rtol=1e-5)
print("OK", model.peft_config["default"].peft_type.value, model.peft_config["default"].r)
"""


def test_export_lora_loads_without_the_plugin_and_matches(arch, input_ids, tmp_path):
    model = panacea_model(arch, r=4, pref_dim=3)
    model.set_preference([0.2, 0.2, 0.6])
    model.export_lora(tmp_path / "lora", preference=[0.1, 0.3, 0.6])
    assert model.get_preference().tolist() == pytest.approx([0.2, 0.2, 0.6])
    with model.preference([0.1, 0.3, 0.6]):
        expected = model(input_ids).logits
    MODEL_FACTORIES[arch](0).save_pretrained(tmp_path / "base")
    torch.save(input_ids, tmp_path / "ids.pt")
    torch.save(expected, tmp_path / "expected.pt")
    config = json.loads((tmp_path / "lora" / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 7
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _LOAD_EXPORT_WITHOUT_PLUGIN,
            str(tmp_path / "base"),
            str(tmp_path / "lora"),
            str(tmp_path / "ids.pt"),
            str(tmp_path / "expected.pt"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "OK LORA 7" in out.stdout


def test_export_lora_with_modules_to_save(input_ids, tmp_path):
    from peft import PeftModel

    model = panacea_model("llama", modules_to_save=["lm_head"])
    with torch.no_grad():
        model.base_model.model.lm_head.modules_to_save["default"].weight.mul_(1.5)
    model.set_preference([0.4, 0.6])
    expected = model(input_ids).logits
    model.export_lora(tmp_path / "lora")
    lora = PeftModel.from_pretrained(MODEL_FACTORIES["llama"](0), tmp_path / "lora").eval()
    torch.testing.assert_close(lora(input_ids).logits, expected, atol=1e-5, rtol=1e-5)


def test_export_refuses_per_sample_preference(tmp_path):
    model = panacea_model("llama")
    model.set_preference(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="one preference vector"):
        model.export_lora(tmp_path / "lora")
    with pytest.raises(ValueError, match="length 3"):
        model.export_lora(tmp_path / "lora", preference=[0.2, 0.2, 0.6])


@pytest.mark.parametrize(
    "dtype, switches, update_scale",
    [(torch.bfloat16, 200, 1.0), (torch.float16, 50, 1.0), (torch.float32, 50, 1.0), (torch.bfloat16, 20, 1e4)],
    ids=["bf16", "fp16", "fp32", "bf16-update-swamps-the-weights"],
)
def test_switching_by_unmerge_set_merge_gives_the_base_weights_back_bit_for_bit(
    input_ids, dtype, switches, update_scale
):
    model = panacea_model("llama")
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "panacea_B" in name:
                param.mul_(update_scale)
    model = model.to(dtype)
    base = {name: p.detach().clone() for name, p in model.named_parameters() if "base_layer" in name}
    with model.disable_adapter():
        expected = model(input_ids).logits
    for step in range(switches):
        weight = step / (switches - 1)
        model.set_preference([weight, 1 - weight])
        model.merge_adapter()
        model.unmerge_adapter()
    assert all(torch.equal(p, base[name]) for name, p in model.named_parameters() if "base_layer" in name)
    with model.disable_adapter():
        assert torch.equal(model(input_ids).logits, expected)


def test_a_safe_merge_that_fails_merges_nothing(input_ids):
    model = panacea_model("llama")
    expected = model(input_ids).logits
    layers = [m for m in model.modules() if hasattr(m, "panacea_B")]
    broken = layers[-1].panacea_B["default"].weight
    good_value = broken[0, 0].item()
    with torch.no_grad():
        broken[0, 0] = float("inf")  # one broken layer, the last one merged
    with pytest.raises(ValueError, match="NaNs detected in the merged weights.*default"):
        model.merge_adapter(safe_merge=True)
    assert not any(layer.merged for layer in layers)
    with pytest.raises(ValueError, match="NaNs detected"):
        model.merge_and_unload(safe_merge=True)
    assert not any(layer.merged for layer in layers)
    assert sum(isinstance(m, type(layers[0])) for m in model.modules()) == len(layers)  # none unloaded
    with torch.no_grad():
        broken[0, 0] = good_value
    assert torch.equal(model(input_ids).logits, expected)  # no base weight was touched
    model.merge_adapter(safe_merge=True)
    assert all(layer.merged for layer in layers)


@pytest.mark.parametrize("unload", ["merge_and_unload", "unload"])
def test_the_preference_of_an_unloaded_adapter_cannot_be_set(input_ids, unload):
    model = panacea_model("llama")
    model.set_preference([0.3, 0.7])
    expected = (
        model(input_ids).logits if unload == "merge_and_unload" else MODEL_FACTORIES["llama"](0)(input_ids).logits
    )
    base = getattr(model, unload)()
    for call in (lambda: model.set_preference([0.5, 0.5]), model.get_preference):
        with pytest.raises(ValueError, match="were unloaded: merge_and_unload\\(\\) / unload\\(\\) returned the base"):
            call()
    torch.testing.assert_close(base(input_ids).logits, expected, atol=1e-5, rtol=1e-5)
