"""Every way of loading a saved adapter runs the same checks against its weights, before allocating anything the
saved shapes already rule out, and a load that fails leaves no adapter behind."""

import json

import pytest
import torch
from peft import PeftModel

from peft_panacea import PanaceaConfig, PanaceaLayer, set_preference

from .models import panacea_model, perturb_adapter, tiny_llama

ALL_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

MISMATCHES = {
    "pref_dim": ({"pref_dim": 3, "preference_names": None, "init_preference": None}, "trained with r=8, pref_dim=2"),
    "r": ({"r": 4}, "trained with r=8, pref_dim=2.*r=4, pref_dim=2"),
    "huge_r": ({"r": 10**13}, "trained with r=8, pref_dim=2"),  # would need petabytes if allocated first
    "fewer_targets": ({"target_modules": ["q_proj", "v_proj", "o_proj"]}, "not adapted here"),
    "more_targets": ({"target_modules": [*ALL_TARGETS, "lm_head"]}, "no weights for adapted modules"),
}


def _saved(tmp_path, safe_serialization=True, **changes):
    model = panacea_model("llama", preference_names=["helpful", "harmless"])
    folder = tmp_path / "adapter"
    model.save_pretrained(folder, safe_serialization=safe_serialization)
    if changes:
        path = folder / "adapter_config.json"
        config = json.loads(path.read_text())
        config.update(changes)
        path.write_text(json.dumps(config))
    return model, folder


def _peft_from_pretrained(folder):
    return PeftModel.from_pretrained(tiny_llama(0), folder)


def _peft_load_adapter(folder):
    model = panacea_model("llama")
    model.load_adapter(folder, adapter_name="other")
    return model


def _transformers_load_adapter(folder):
    model = tiny_llama(0)
    model.load_adapter(str(folder))
    return model


ENTRY_POINTS = {
    "PeftModel.from_pretrained": _peft_from_pretrained,
    "PeftModel.load_adapter": _peft_load_adapter,
    "transformers.load_adapter": _transformers_load_adapter,
}


@pytest.mark.parametrize("load", ENTRY_POINTS.values(), ids=ENTRY_POINTS.keys())
@pytest.mark.parametrize("changes, message", MISMATCHES.values(), ids=MISMATCHES.keys())
def test_every_load_path_refuses_a_config_that_does_not_match_its_weights(tmp_path, load, changes, message):
    _, folder = _saved(tmp_path, **changes)
    with pytest.raises(ValueError, match=message):
        load(folder)


def test_a_bin_weights_file_is_checked_too(tmp_path):
    _, folder = _saved(tmp_path, safe_serialization=False, r=10**13)
    assert (folder / "adapter_model.bin").exists()
    with pytest.raises(ValueError, match="trained with r=8, pref_dim=2"):
        PeftModel.from_pretrained(tiny_llama(0), folder)


def test_a_hub_config_is_checked_against_the_weights_it_comes_with(tmp_path, monkeypatch):
    _, folder = _saved(tmp_path, r=10**13)

    def fake_hub_download(repo_id, filename, subfolder=None, **kwargs):
        assert repo_id == "me/panacea"
        return str(folder / filename)

    monkeypatch.setattr("peft.config.hf_hub_download", fake_hub_download)
    monkeypatch.setattr("peft_panacea.tuner.checks.hf_hub_download", fake_hub_download)
    with pytest.raises(ValueError, match="trained with r=8, pref_dim=2"):
        PanaceaConfig.from_pretrained("me/panacea")


@pytest.mark.parametrize("load", ENTRY_POINTS.values(), ids=ENTRY_POINTS.keys())
def test_every_load_path_loads_a_matching_adapter(tmp_path, load, input_ids):
    model, folder = _saved(tmp_path)
    loaded = load(folder)
    model.set_preference([0.7, 0.3])
    if isinstance(loaded, PeftModel):
        adapter = "other" if "other" in loaded.peft_config else "default"
        loaded.set_adapter(adapter)
        loaded.set_preference([0.7, 0.3])
    else:
        set_preference(loaded, [0.7, 0.3])
    torch.testing.assert_close(loaded(input_ids).logits, model(input_ids).logits)


def _copy_with_targets(folder, bad, targets: list[str]):
    """A copy of the saved adapter whose config names other target modules than its weights hold."""
    bad.mkdir()
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        (bad / name).write_bytes((folder / name).read_bytes())
    config = json.loads((bad / "adapter_config.json").read_text())
    (bad / "adapter_config.json").write_text(json.dumps({**config, "target_modules": targets}))
    return bad


def _adapters_on_layers(model) -> set[str]:
    return {name for m in model.modules() if isinstance(m, PanaceaLayer) for name in m.panacea_A}


def test_failed_peft_load_adapter_leaves_nothing_and_a_retry_under_the_same_name_works(tmp_path, input_ids):
    good, folder = _saved(tmp_path)
    bad = _copy_with_targets(folder, tmp_path / "bad", ["q_proj", "v_proj"])

    model = panacea_model("llama")
    perturb_adapter(model, seed=5)  # its own adapter differs from the one loaded next
    with pytest.raises(ValueError, match="not adapted here"):
        model.load_adapter(bad, adapter_name="other")
    assert "other" not in model.peft_config
    assert _adapters_on_layers(model) == {"default"}
    assert set(model.base_model.preference_states) == {"default"}

    model.load_adapter(folder, adapter_name="other")
    model.set_adapter("other")
    model.set_preference([0.4, 0.6])
    good.set_preference([0.4, 0.6])
    torch.testing.assert_close(model(input_ids).logits, good(input_ids).logits)


def test_failed_transformers_load_adapter_leaves_nothing_and_a_retry_works(tmp_path, input_ids):
    good, folder = _saved(tmp_path)
    bad = _copy_with_targets(folder, tmp_path / "bad", [*ALL_TARGETS, "lm_head"])

    model = tiny_llama(0)
    expected_base = model(input_ids).logits
    with pytest.raises(ValueError, match="no weights for adapted modules"):
        model.load_adapter(str(bad))
    assert _adapters_on_layers(model) == set()
    assert not getattr(model, "peft_config", None)
    torch.testing.assert_close(model(input_ids).logits, expected_base)

    model.load_adapter(str(folder))
    set_preference(model, [0.4, 0.6])
    good.set_preference([0.4, 0.6])
    torch.testing.assert_close(model(input_ids).logits, good(input_ids).logits)


def test_failed_peft_from_pretrained_gives_the_base_model_back(tmp_path, input_ids):
    _, folder = _saved(tmp_path, target_modules=["q_proj", "v_proj"])
    base = tiny_llama(0)
    expected = base(input_ids).logits
    with pytest.raises(ValueError, match="not adapted here"):
        PeftModel.from_pretrained(base, folder)
    assert not any(isinstance(m, PanaceaLayer) for m in base.modules())
    assert not hasattr(base, "peft_config")
    torch.testing.assert_close(base(input_ids).logits, expected)
