"""The base install: ``import peft_panacea`` and the tuner work without the [train] and [eval] extras, and the
trainer and evaluation names say which extra to install."""

import textwrap

from .models import run_without

OPTIONAL = ("trl", "datasets", "moocore", "matplotlib")

SCRIPT = textwrap.dedent(
    """
    import torch
    from peft import get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    import peft_panacea

    config = LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1)
    model = get_peft_model(LlamaForCausalLM(config), peft_panacea.PanaceaConfig(pref_dim=2))
    model.set_preference([0.3, 0.7])
    model(input_ids=torch.tensor([[1, 2, 3]]))
    print("tuner ok")
    for name, extra in (("PanaceaDPOTrainer", "train"), ("evaluate_front", "eval")):
        try:
            getattr(peft_panacea, name)
        except ImportError as err:
            assert f"pip install 'peft-panacea[{extra}]'" in str(err), err
            print(name, "->", err)
        else:
            raise AssertionError(f"{name} imported without its extra")
    """
)


def test_base_install_imports_the_tuner_and_names_the_missing_extras():
    result = run_without(OPTIONAL, SCRIPT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "tuner ok" in result.stdout
    assert "PanaceaDPOTrainer -> The Panacea trainers" in result.stdout
    assert "evaluate_front -> Front evaluation" in result.stdout
