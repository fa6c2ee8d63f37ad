"""Saving and loading through unmodified PEFT and transformers entry points."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from peft import AutoPeftModelForCausalLM, PeftModel, get_peft_model
from safetensors.torch import load_file

from peft_panacea import PanaceaConfig, PanaceaModel, set_preference

from .models import MODEL_FACTORIES, panacea_model

_LOAD_IN_FRESH_PROCESS = """
import sys, torch
import peft_panacea
from transformers import AutoModelForCausalLM
from peft import PeftModel
base = AutoModelForCausalLM.from_pretrained(sys.argv[1])
model = PeftModel.from_pretrained(base, sys.argv[2]).eval()
model.set_preference({"helpful": 0.25, "harmless": 0.75})
ids = torch.load(sys.argv[3])
torch.testing.assert_close(model(input_ids=ids).logits, torch.load(sys.argv[4]), atol=1e-6, rtol=1e-6)
print("OK", type(model.base_model).__name__, sum(p.requires_grad for p in model.parameters()))
"""


def _save(arch, tmp_path, **kwargs):
    model = panacea_model(arch, preference_names=["helpful", "harmless"], **kwargs)
    model.save_pretrained(tmp_path / "adapter")
    MODEL_FACTORIES[arch](0).save_pretrained(tmp_path / "base")
    return model


def test_save_writes_safetensors_config_and_card(tmp_path):
    model = _save("llama", tmp_path)
    files = {p.name for p in (tmp_path / "adapter").iterdir()}
    assert files == {"adapter_config.json", "adapter_model.safetensors", "README.md"}
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["peft_type"] == "PANACEA" and config["pref_dim"] == 2
    assert config["preference_names"] == ["helpful", "harmless"]
    weights = load_file(tmp_path / "adapter" / "adapter_model.safetensors")
    assert all(".panacea_" in key for key in weights)
    assert not any("pref_state" in key or key.endswith("preference") for key in weights)
    n_layers = sum(1 for _ in model.base_model.panacea_layers())
    assert len(weights) == 4 * n_layers  # A, B, sigma, s per layer; lambda is never saved
    card = (tmp_path / "adapter" / "README.md").read_text()
    assert "`helpful`" in card and "`harmless`" in card
    assert "import peft_panacea" in card and "KeyError: 'PANACEA'" in card and "set_preference" in card


def test_save_and_load_in_fresh_process(arch, tmp_path, input_ids):
    model = _save(arch, tmp_path)
    model.set_preference([0.25, 0.75])
    torch.save(input_ids, tmp_path / "ids.pt")
    torch.save(model(input_ids).logits, tmp_path / "expected.pt")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _LOAD_IN_FRESH_PROCESS,
            str(tmp_path / "base"),
            str(tmp_path / "adapter"),
            str(tmp_path / "ids.pt"),
            str(tmp_path / "expected.pt"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "OK PanaceaModel 0" in out.stdout


@pytest.mark.parametrize("low_cpu_mem_usage", [False, True])
def test_from_pretrained_options(tmp_path, input_ids, low_cpu_mem_usage):
    model = _save("llama", tmp_path)
    loaded = PeftModel.from_pretrained(
        MODEL_FACTORIES["llama"](0), tmp_path / "adapter", is_trainable=True, low_cpu_mem_usage=low_cpu_mem_usage
    )
    assert loaded.get_nb_trainable_parameters()[0] == model.get_nb_trainable_parameters()[0]
    loaded.eval()
    for pref in ([1.0, 0.0], [0.2, 0.8]):
        model.set_preference(pref)
        loaded.set_preference(pref)
        torch.testing.assert_close(loaded(input_ids).logits, model(input_ids).logits)


def test_auto_peft_model_and_transformers_load_adapter(tmp_path, input_ids):
    model = _save("llama", tmp_path)
    config_path = tmp_path / "adapter" / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = str(tmp_path / "base")
    config_path.write_text(json.dumps(config))
    model.set_preference([0.6, 0.4])
    expected = model(input_ids).logits

    auto = AutoPeftModelForCausalLM.from_pretrained(tmp_path / "adapter").eval()
    assert isinstance(auto.base_model, PanaceaModel)
    auto.set_preference([0.6, 0.4])
    torch.testing.assert_close(auto(input_ids).logits, expected)

    native = MODEL_FACTORIES["llama"](0)
    native.load_adapter(str(tmp_path / "adapter"))
    set_preference(native, {"helpful": 0.6, "harmless": 0.4})
    torch.testing.assert_close(native(input_ids).logits, expected)
    with pytest.raises(ValueError, match="length 3"):
        set_preference(native, [0.2, 0.2, 0.6])
    with pytest.raises(ValueError, match="no active Panacea adapter"):
        set_preference(MODEL_FACTORIES["llama"](0), [0.5, 0.5])


def _edit_config(tmp_path, **changes):
    path = tmp_path / "adapter" / "adapter_config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"pref_dim": 3, "preference_names": None, "init_preference": None},
            "trained with r=8, pref_dim=2.*r=8, pref_dim=3",
        ),
        ({"r": 4}, "trained with r=8, pref_dim=2.*r=4, pref_dim=2"),
        ({"target_modules": ["q_proj", "v_proj", "o_proj"]}, "weights for modules that are not adapted here"),
        (
            {
                "target_modules": [
                    "q_proj",
                    "k_proj",
                    "v_proj",
                    "o_proj",
                    "gate_proj",
                    "up_proj",
                    "down_proj",
                    "lm_head",
                ]
            },
            "no weights for adapted modules",
        ),
    ],
)
def test_mismatched_saved_adapter_gives_clear_error(tmp_path, changes, message):
    _save("llama", tmp_path)
    _edit_config(tmp_path, **changes)
    with pytest.raises(ValueError, match=message):
        PeftModel.from_pretrained(MODEL_FACTORIES["llama"](0), tmp_path / "adapter")


def test_loading_an_adapter_into_a_model_with_another_pref_dim_errors(tmp_path):
    _save("llama", tmp_path)
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file as load

    other = panacea_model("llama", pref_dim=3)
    with pytest.raises(ValueError, match="pref_dim=2.*pref_dim=3"):
        set_peft_model_state_dict(other, load(tmp_path / "adapter" / "adapter_model.safetensors"))


def test_load_second_adapter_by_name(tmp_path, input_ids):
    model = _save("llama", tmp_path)
    other = get_peft_model(MODEL_FACTORIES["llama"](0), PanaceaConfig(pref_dim=3, task_type="CAUSAL_LM")).eval()
    other.load_adapter(tmp_path / "adapter", adapter_name="loaded")
    other.set_adapter("loaded")
    other.set_preference({"helpful": 0.5, "harmless": 0.5})
    model.set_preference([0.5, 0.5])
    torch.testing.assert_close(other(input_ids).logits, model(input_ids).logits)
    other.set_adapter("default")
    assert other.get_preference().shape == (3,)


def test_an_adapter_saved_by_version_0_1_0_loads_with_the_same_outputs():
    """tests/fixtures/adapter_v0_1_0 was written by peft-panacea 0.1.0 (paper init, lora_alpha 512, no
    init_panacea_weights key) together with its logits; today's code must reproduce them."""
    folder = Path(__file__).parent / "fixtures" / "adapter_v0_1_0"
    expected = json.loads((folder / "expected_outputs.json").read_text())
    model = PeftModel.from_pretrained(MODEL_FACTORIES["llama"](0), folder).eval()
    assert model.peft_config["default"].lora_alpha == 512
    ids = torch.tensor(expected["input_ids"])
    for preference, logits in expected["last_logits"].items():
        got = model(input_ids=ids, preference=json.loads(preference)).logits[0, -1]
        torch.testing.assert_close(got, torch.tensor(logits), atol=1e-5, rtol=1e-5)


def _card_objectives(folder: Path) -> list[str]:
    card = (folder / "README.md").read_text()
    assert card.count("## Panacea preference adapter") == 1, card
    section = card.split("## Panacea preference adapter", 1)[1].split("```", 1)[0]
    return [line.split("`")[1] for line in section.splitlines() if line[:1].isdigit() and "`" in line]


def test_the_card_is_regenerated_on_every_save(tmp_path):
    panacea_model("llama", preference_names=["helpful", "harmless"]).save_pretrained(tmp_path / "adapter")
    assert _card_objectives(tmp_path / "adapter") == ["helpful", "harmless"]
    panacea_model("llama", preference_names=["short", "polite", "safe"], pref_dim=3).save_pretrained(
        tmp_path / "adapter"
    )
    assert _card_objectives(tmp_path / "adapter") == ["short", "polite", "safe"]


def test_each_saved_adapter_gets_the_card_of_its_own_objectives(tmp_path):
    model = panacea_model("llama", preference_names=["helpful", "harmless"])
    model.add_adapter("styles", PanaceaConfig(pref_dim=3, preference_names=["short", "polite", "safe"]))
    model.set_adapter("styles")  # the active adapter is not the one stored at the root
    model.save_pretrained(tmp_path / "adapters")
    assert _card_objectives(tmp_path / "adapters") == ["helpful", "harmless"]
    assert _card_objectives(tmp_path / "adapters" / "styles") == ["short", "polite", "safe"]


def test_a_card_written_before_the_section_markers_is_updated_in_place(tmp_path):
    folder = tmp_path / "adapter"
    shutil.copytree(Path(__file__).parent / "fixtures" / "adapter_v0_1_0", folder)
    model = PeftModel.from_pretrained(MODEL_FACTORIES["llama"](0), folder)
    model.peft_config["default"].preference_names = ["first", "second"]
    model.save_pretrained(folder)
    assert _card_objectives(folder) == ["first", "second"]
    assert "### Framework versions" in (folder / "README.md").read_text()  # PEFT's part of the card is kept
