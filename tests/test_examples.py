"""The training examples run end to end on a tiny local model (a few steps)."""

import subprocess
import sys
from pathlib import Path

import pytest

from .models import tiny_llama, tiny_tokenizer

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tiny")
    tiny_llama().save_pretrained(path)
    tokenizer = tiny_tokenizer()
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    tokenizer.save_pretrained(path)
    return path


@pytest.mark.parametrize("script", ["train_dpo.py", "train_sft.py"])
def test_training_example_runs(script, tiny_model_dir, tmp_path):
    out = tmp_path / "adapter"
    command = [
        sys.executable,
        str(EXAMPLES / script),
        "--model",
        str(tiny_model_dir),
        "--max-steps",
        "2",
        "--output-dir",
        str(out),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=EXAMPLES)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "adapter_model.safetensors").exists() and "Saved the Panacea adapter" in result.stdout
    if script == "train_grpo.py":
        assert "preference (positivity, conciseness)" in result.stdout
    else:
        assert "objective_loss/" in result.stdout
