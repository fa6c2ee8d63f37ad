"""The front-quality benchmark runs end to end on a tiny local model, charges each method its models, and resumes."""

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "front_quality.py"


def run_benchmark(model_dir: Path, out: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPT), "--model", str(model_dir), "--output-dir", str(out), "--steps", "1"]
    command += ["--points", "3", "--dps-points", "3", "--eval-prompts", "2", "--num-generations", "2"]
    command += ["--max-completion-length", "4"]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def test_front_quality_benchmark(tmp_path, tiny_model_dir):
    pytest.importorskip("vaderSentiment", reason="the demo task's rewards need vaderSentiment")
    out = tmp_path / "out"

    first = run_benchmark(tiny_model_dir, out)
    assert first.returncode == 0, first.stderr[-3000:]
    rows = json.loads((out / "front_quality.json").read_text())
    assert list(rows) == ["Panacea LS", "Panacea Tchebycheff", "Rewarded Soups", "DPS", "base model"]
    assert [rows[m]["models_trained"] for m in rows] == [1, 1, 2, 3, 0]
    assert [rows[m]["points"] for m in rows] == [3, 3, 3, 3, 1]
    assert sorted(rows["DPS"]["preferences"]) == [[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]
    for row in rows.values():
        assert row["reference_point"] == [-1.0, 0.0] and {"hypervolume", "inner_product", "spacing"} <= row.keys()
    assert "HV / Rewarded Soups" in first.stdout
    assert (out / "front_quality.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == ["lora_000_100", "lora_050_050", "lora_100_000", "panacea_linear", "panacea_tchebycheff"]

    second = run_benchmark(tiny_model_dir, out)  # trained adapters are reused, not retrained
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stdout.count("reusing") == 5 and "training" not in second.stdout


def test_front_ablation_runs_each_variant_once_and_sweeps_its_checkpoints(tmp_path, tiny_model_dir):
    pytest.importorskip("vaderSentiment", reason="the demo task's rewards need vaderSentiment")
    script = SCRIPT.parent / "front_ablation.py"
    command = [sys.executable, str(script), "--model", str(tiny_model_dir), "--output-dir", str(tmp_path)]
    command += ["--variants", "default", "paper", "--seeds", "0", "--steps", "2", "--save-steps", "1"]
    command += ["--eval-prompts", "2", "--points", "3", "--num-generations", "2", "--max-completion-length", "4"]
    first = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    log = tmp_path / "ablation.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["variant"], r["seed"], r["steps"]) for r in rows] == [("default", 0, 2), ("paper", 0, 2)]
    assert all(len(r["front"]) == 3 and len(r["completions"]) == 3 for r in rows)
    second = subprocess.run(command, capture_output=True, text=True, timeout=600)  # finished runs are skipped
    assert second.returncode == 0 and len(log.read_text().splitlines()) == 2

    third = subprocess.run([*command, "--checkpoints"], capture_output=True, text=True, timeout=600)
    assert third.returncode == 0, third.stderr[-3000:]
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["variant"], r["steps"], r["schedule_steps"]) for r in rows[2:]] == [("default", 1, 2), ("paper", 1, 2)]

    # a kept checkpoint sweeps to the very front the trained model in memory gave
    spec = importlib.util.spec_from_file_location("front_ablation", script)
    ablation = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ablation)
    settings = ablation.DemoSettings(
        steps=2, model=str(tiny_model_dir), eval_prompts=2, points=3, num_generations=2, max_completion_length=4
    )
    reloaded = ablation.run_checkpoint("default", 0, 2, settings, tmp_path)
    assert reloaded["front"] == rows[0]["front"] and reloaded["completions"] == rows[0]["completions"]

    # an interrupted run (its last checkpoint and row lost) resumes from checkpoint-1 to the very same front
    shutil.rmtree(tmp_path / "runs" / "default-0" / "trainer" / "checkpoint-2")
    log.write_text("".join(json.dumps(row) + "\n" for row in rows[1:]))
    resume = [*command, "--variants", "default", "--resume"]
    resumed = subprocess.run(resume, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    row = json.loads(log.read_text().splitlines()[-1])
    assert (row["variant"], row["steps"], row["resumed_from"]) == ("default", 2, 1)
    assert row["front"] == rows[0]["front"] and row["completions"] == rows[0]["completions"]


def run_script(name: str, *args: str) -> str:
    script = SCRIPT.parent / name
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def parse_ratio(text: str, label: str) -> float:
    line = next(line for line in text.splitlines() if label in line)
    return float(line.split(label)[1].split()[0].rstrip(","))


@pytest.mark.parametrize("trainer", ["dpo", "grpo"])
def test_step_cost_times_and_weighs_both_trainers(trainer):
    out = run_script(
        "step_cost.py", "--model", "tiny", "--trainer", trainer, "--repeats", "1", "--completion-len", "8"
    )
    assert f"{trainer.upper()} step, tiny" in out
    for label in ("ratio of medians:", "peak memory ratio: in the step", ", in all"):
        assert 0.2 < parse_ratio(out, label) < 5.0
    assert out.count("MiB in the step") == 2


def test_overhead_times_the_first_decoding_step_after_a_switch():
    out = run_script(
        "overhead.py", "--layers", "2", "--depths", "2", "--batch-sizes", "1", "--seq-len", "8", "--repeats", "1"
    )
    assert 0.1 < parse_ratio(out, "first step after set_preference / a step at the same preference:") < 10.0
    assert "Panacea unmerged / PEFT LoRA same rank" in out and "Switching the trade-off" in out
