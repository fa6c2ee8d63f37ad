"""Every example runs end to end on a tiny local model (a few steps)."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"

# Per example: the arguments that make it fast on the tiny model, and a line its output must contain.
RUNS = {
    "train_dpo.py": (["--max-steps", "2"], "objective_loss/"),
    "train_sft.py": (["--max-steps", "2"], "objective_loss/"),
    "train_grpo.py": (
        ["--max-steps", "1", "--num-generations", "2", "--max-completion-length", "4", "--eval-prompts", "2"],
        "preference (positivity, conciseness)",
    ),
    "quickstart.py": (["--steps", "2"], "One batch, two preferences"),
}


@pytest.mark.parametrize("script", sorted(RUNS))
def test_example_runs(script, tiny_model_dir, tmp_path):
    if script == "train_grpo.py":
        pytest.importorskip("vaderSentiment", reason="the GRPO example's positivity reward needs vaderSentiment")
    extra, expected = RUNS[script]
    out = tmp_path / "out"
    command = [sys.executable, str(EXAMPLES / script), "--model", str(tiny_model_dir), "--output-dir", str(out)]
    result = subprocess.run(command + extra, capture_output=True, text=True, timeout=600, cwd=EXAMPLES)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Saved the Panacea adapter" in result.stdout and expected in result.stdout
    saved = out / "adapter" if script == "quickstart.py" else out
    assert (saved / "adapter_model.safetensors").exists()
