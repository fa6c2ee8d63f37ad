"""Panacea behaves like PEFT's built-in tuners where PEFT's own tests look: the safe-merge error text, the standard
model card, string default targets and forward hooks (the full upstream run is in tests/peft_conformance/)."""

import re

import pytest
import torch
from peft import __version__ as peft_version
from peft import get_peft_model
from torch import nn

from peft_panacea import PanaceaConfig
from peft_panacea.tuner import model as tuner_model

from .models import VOCAB, panacea_model


class _MLP(nn.Module):
    """A custom model with a transformers-like config, so PEFT looks up default targets by ``model_type``."""

    def __init__(self) -> None:
        super().__init__()
        self.lin0 = nn.Linear(10, 20)
        self.lin1 = nn.Linear(20, 2)
        self.config = {"model_type": "panacea-test-mlp"}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin1(torch.relu(self.lin0(x)))


def test_safe_merge_of_a_broken_adapter_raises_peft_s_message():
    model = panacea_model("llama")
    with torch.no_grad():
        next(p for n, p in model.named_parameters() if "panacea_B" in n).fill_(float("nan"))
    expected = "NaNs detected in the merged weights. The adapter default seems to be broken"
    with pytest.raises(ValueError, match=re.escape(expected)):
        model.merge_and_unload(safe_merge=True)


def test_saved_card_is_peft_s_standard_card_with_the_panacea_section_appended(tmp_path):
    model = panacea_model("llama", preference_names=["helpful", "harmless"])
    model.save_pretrained(tmp_path)
    card = (tmp_path / "README.md").read_text()
    template = card.index("# Model Card for Model ID")  # huggingface_hub's template, which PEFT fills in
    versions = card.index(f"- PEFT {peft_version}")
    section = card.index("## Panacea preference adapter")
    assert card.startswith("---\n") and "library_name: peft" in card
    assert template < versions < section
    assert "1. `helpful`" in card[section:] and "2. `harmless`" in card[section:]


def test_existing_card_is_kept_and_gets_the_section_once(tmp_path):
    (tmp_path / "README.md").write_text("---\nmeta: hello\n---\nThis is my model card\n")
    model = panacea_model("llama")
    model.save_pretrained(tmp_path)
    model.save_pretrained(tmp_path)
    card = (tmp_path / "README.md").read_text()
    assert "meta: hello" in card and "library_name: peft" in card and "This is my model card" in card
    assert card.count("## Panacea preference adapter") == 1
    assert "# Model Card for Model ID" not in card


@pytest.mark.parametrize("default, expected", [("lin0", "lin0"), (["lin0"], {"lin0"})])
def test_default_targets_from_the_model_type_mapping(monkeypatch, default, expected):
    monkeypatch.setitem(tuner_model.TARGET_MODULES_MAPPING, "panacea-test-mlp", default)
    model = get_peft_model(_MLP(), PanaceaConfig(pref_dim=2))
    assert model.peft_config["default"].target_modules == expected
    assert model.targeted_module_names == ["lin0"]


def test_forward_hooks_on_the_wrapped_model_fire():
    model = panacea_model("llama")
    calls = []
    model.base_model.model.register_forward_hook(lambda module, args, output: calls.append(type(module).__name__))
    model(input_ids=torch.randint(3, VOCAB, (1, 5)))
    assert calls == ["LlamaForCausalLM"]
