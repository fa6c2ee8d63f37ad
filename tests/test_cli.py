"""The `panacea` command: every subcommand on a tiny local model, and one-line errors."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .models import run_without


def panacea(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "peft_panacea.cli", *args], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory, tiny_model_dir) -> Path:
    pytest.importorskip("vaderSentiment", reason="the demo's positivity reward needs vaderSentiment")
    root = tmp_path_factory.mktemp("cli")
    (root / "model").symlink_to(tiny_model_dir)
    result = panacea(
        "demo",
        "--model",
        str(root / "model"),
        "--steps",
        "1",
        "--output-dir",
        str(root / "demo"),
        "--points",
        "3",
        "--eval-prompts",
        "2",
        "--num-generations",
        "2",
        "--max-completion-length",
        "4",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "monotonicity" in result.stdout and "hypervolume" in result.stdout
    return root


def test_demo_writes_adapter_front_json_and_png(demo_dir):
    out = demo_dir / "demo"
    assert (out / "adapter" / "adapter_model.safetensors").exists()
    data = json.loads((out / "front.json").read_text())
    assert data["objective_names"] == ["positivity", "neutrality"]
    assert data["metrics"]["reference_point"] == [-1.0, 0.0]
    assert len(data["preferences"]) == 3 and {"hypervolume", "monotonicity"} <= data["metrics"].keys()
    assert (out / "front.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_on_saved_adapter(demo_dir, tmp_path):
    result = panacea(
        "eval",
        "--adapter",
        str(demo_dir / "demo" / "adapter"),
        "--model",
        str(demo_dir / "model"),
        "--rewards",
        "conciseness,positivity",
        "--points",
        "3",
        "--eval-prompts",
        "2",
        "--max-new-tokens",
        "3",
        "--output-dir",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads((tmp_path / "front.json").read_text())
    assert data["objective_names"] == ["conciseness", "positivity"]
    assert (tmp_path / "front.png").exists()


@pytest.mark.parametrize("merged", [False, True])
def test_export(demo_dir, tmp_path, merged):
    args = [
        "export",
        "--adapter",
        str(demo_dir / "demo" / "adapter"),
        "--model",
        str(demo_dir / "model"),
        "--preference",
        "0.3,0.7",
        "--out",
        str(tmp_path / "out"),
    ]
    result = panacea(*args, *(["--merged"] if merged else []))
    assert result.returncode == 0, result.stderr[-3000:]
    expected = "model.safetensors" if merged else "adapter_model.safetensors"
    assert (tmp_path / "out" / expected).exists()
    if not merged:
        assert json.loads((tmp_path / "out" / "adapter_config.json").read_text())["peft_type"] == "LORA"


def test_export_needs_neither_the_training_nor_the_evaluation_stack(demo_dir, tmp_path):
    args = ["export", "--adapter", str(demo_dir / "demo" / "adapter"), "--model", str(demo_dir / "model")]
    args += ["--preference", "0.3,0.7", "--out", str(tmp_path / "out")]
    script = f"import sys\nfrom peft_panacea.cli import main\nsys.exit(main({args!r}))\n"
    result = run_without(("datasets", "trl", "moocore", "matplotlib"), script)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "out" / "adapter_model.safetensors").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["demo", "--model", "/no/such/model", "--steps", "1"], "model path '/no/such/model' does not exist"),
        (["export", "--adapter", "/no/adapter", "--preference", "0.3,abc", "--out", "x"], "bad preference '0.3,abc'"),
        (["eval", "--adapter", "/no/adapter", "--rewards", "funny"], "unknown reward(s) ['funny']"),
        (
            ["export", "--adapter", "/no/adapter", "--preference", "0.3,0.7", "--out", "x"],
            "no adapter at '/no/adapter'",
        ),
    ],
)
def test_errors_are_one_line_without_traceback(args, message):
    result = panacea(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if "error" in line]) == 1


def test_bad_preference_values_for_the_adapter_are_one_line(demo_dir, tmp_path):
    result = panacea(
        "export",
        "--adapter",
        str(demo_dir / "demo" / "adapter"),
        "--model",
        str(demo_dir / "model"),
        "--preference",
        "0.3,0.3,0.4",
        "--out",
        str(tmp_path / "x"),
    )
    assert result.returncode == 2 and "has length 3 but the adapter has pref_dim=2" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("merged", [False, True])
def test_export_into_the_adapter_folder_is_refused_and_the_adapter_survives(demo_dir, tmp_path, merged):
    adapter = tmp_path / "adapter"
    shutil.copytree(demo_dir / "demo" / "adapter", adapter)
    before = {p.name: p.read_bytes() for p in adapter.iterdir()}
    args = ["export", "--adapter", str(adapter), "--model", str(demo_dir / "model"), "--preference", "0.3,0.7"]
    if merged:
        (tmp_path / "merged").mkdir()
        (tmp_path / "merged" / "config.json").write_text("{}")
        result = panacea(*args, "--out", str(tmp_path / "merged"), "--merged")
        assert result.returncode == 2 and "already holds config.json" in result.stderr
    else:
        result = panacea(*args, "--out", str(adapter))
        assert (
            result.returncode == 2
            and "already holds adapter_config.json" in result.stderr
            and "--force" in result.stderr
        )
    assert {p.name: p.read_bytes() for p in adapter.iterdir()} == before
    file_out = tmp_path / "file.txt"
    file_out.write_text("keep")
    result = panacea(*args, "--out", str(file_out), *(["--merged"] if merged else []))
    assert result.returncode == 2 and "is a file" in result.stderr and file_out.read_text() == "keep"


def test_export_with_force_replaces_an_earlier_export(demo_dir, tmp_path):
    args = ["export", "--adapter", str(demo_dir / "demo" / "adapter"), "--model", str(demo_dir / "model")]
    assert panacea(*args, "--preference", "1,0", "--out", str(tmp_path / "lora")).returncode == 0
    assert panacea(*args, "--preference", "0,1", "--out", str(tmp_path / "lora")).returncode == 2
    result = panacea(*args, "--preference", "0,1", "--out", str(tmp_path / "lora"), "--force")
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"neutrality": 1.0' in (tmp_path / "lora" / "README.md").read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (["demo", "--steps", "-1"], "--steps: expected an integer >= 1, got -1"),
        (["demo", "--eval-prompts", "0"], "--eval-prompts: expected an integer >= 1, got 0"),
        (["demo", "--eval-prompts", "1000"], "--eval-prompts 1000 leaves no training prompts"),
        (["demo", "--points", "1"], "--points: expected an integer >= 2, got 1"),
        (["eval", "--adapter", "/no/adapter", "--eval-prompts", "-1"], "--eval-prompts: expected an integer >= 1"),
    ],
)
def test_bad_counts_are_refused_before_any_work(args, message, tmp_path):
    result = panacea(*args, "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 2 and message in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "out").exists()


def test_eval_with_an_empty_prompts_file_writes_nothing(demo_dir, tmp_path):
    empty = tmp_path / "prompts.txt"
    empty.write_text("\n  \n")
    args = ["eval", "--adapter", str(demo_dir / "demo" / "adapter"), "--model", str(demo_dir / "model")]
    result = panacea(*args, "--prompts", str(empty), "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 2 and "no prompts to evaluate" in result.stderr
    assert not (tmp_path / "out").exists()
    result = panacea(*args, "--reference-point", "0,0,0", "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 2 and "--reference-point has 3 values for 2 rewards" in result.stderr


def test_an_output_dir_that_is_a_file_is_one_line(demo_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    args = ["eval", "--adapter", str(demo_dir / "demo" / "adapter"), "--model", str(demo_dir / "model")]
    result = panacea(*args, "--output-dir", str(blocker / "out"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
