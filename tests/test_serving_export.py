"""Serving exports (basis, vertices, shared part merged): plain PEFT LoRA folders, loaded in a process that never
imports peft_panacea, reproduce the Panacea adapter at any preference from the manifest's scale rule."""

import json
import subprocess
import sys

import pytest
import torch

from .models import MODEL_FACTORIES, panacea_model

PREFERENCES = [[1.0, 0.0, 0.0], [0.2, 0.5, 0.3], [0.0, 0.25, 0.75]]

# For each job: loads every adapter of the manifest with plain PEFT, activates them all at once and sets each one's
# scale as the scale rule says (constant, or the weight of its objective), then compares with Panacea's logits. With
# "linear", also mixes the A and B factors of the adapters separately with the preference weights, as LoRAX's linear
# merge does, and loads that one LoRA at scale 1. One process for all jobs: importing the stack is the slow part.
_SERVE_WITHOUT_PLUGIN = """
import json, sys, traceback
from pathlib import Path
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM
from peft import PeftModel
from peft.tuners.lora import LoraLayer


def check(root, base_dir, data, mode):
    manifest = json.loads((root / "panacea_serving.json").read_text())
    if manifest["form"] == "shared_merged":
        base_dir = root / manifest["base_model"]
    entries = manifest["adapters"]
    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(base_dir), root / entries[0]["path"], adapter_name=entries[0]["name"]
    )
    for entry in entries[1:]:
        model.load_adapter(root / entry["path"], adapter_name=entry["name"])
    model.base_model.set_adapter([entry["name"] for entry in entries])
    model.eval()
    for preference, expected in zip(data["preferences"], data["logits"]):
        weights = dict(zip(manifest["objectives"], preference))
        for module in model.modules():
            if isinstance(module, LoraLayer):
                for entry in entries:
                    scale = entry["scale"] if "scale" in entry else weights[entry["objective"]]
                    module.set_scale(entry["name"], scale)
        torch.testing.assert_close(model(input_ids=data["input_ids"]).logits, expected, atol=1e-5, rtol=1e-5)
    if mode == "linear":
        tensors = [load_file(root / entry["path"] / "adapter_model.safetensors") for entry in entries]
        for i, (preference, expected) in enumerate(zip(data["preferences"], data["logits"])):
            mixed = {key: sum(w * t[key] for w, t in zip(preference, tensors)) for key in tensors[0]}
            out = root.parent / f"linear_{i}"
            out.mkdir()
            (out / "adapter_config.json").write_text((root / entries[0]["path"] / "adapter_config.json").read_text())
            save_file(mixed, out / "adapter_model.safetensors")
            lora = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir), out).eval()
            torch.testing.assert_close(lora(input_ids=data["input_ids"]).logits, expected, atol=1e-5, rtol=1e-5)


for job in json.loads(sys.argv[1]):
    try:
        check(Path(job["export"]), job["base"], torch.load(job["data"]), job["mode"])
        print("OK", job["name"])
    except Exception:
        print("FAIL", job["name"], traceback.format_exc())
assert "peft_panacea" not in sys.modules
"""

# (arch, export method, r, preference names, mode)
JOBS = {
    "basis-llama": ("llama", "export_lora_basis", 4, ["helpful", "harmless", "humour"], "scales"),
    "basis-gpt2": ("gpt2", "export_lora_basis", 4, None, "scales"),
    "vertices-llama": ("llama", "export_lora_vertices", 2, None, "linear"),
    "merged-llama": ("llama", "export_shared_merged", 3, None, "scales"),
    "merged-gpt2": ("gpt2", "export_shared_merged", 3, None, "scales"),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Every job exported from a Panacea model, Panacea's logits at PREFERENCES, and the plain-PEFT process's
    output, which has one "OK <job>" line per job that matched."""
    root = tmp_path_factory.mktemp("serving")
    input_ids = torch.randint(3, 97, (3, 7), generator=torch.Generator().manual_seed(1))
    jobs = []
    for name, (arch, method, r, names, mode) in JOBS.items():
        model = panacea_model(arch, r=r, pref_dim=3, preference_names=names)
        model.set_preference([0.6, 0.2, 0.2])
        getattr(model, method)(root / name / "export")
        assert model.get_preference().tolist() == pytest.approx([0.6, 0.2, 0.2])
        logits = []
        for preference in PREFERENCES:
            with model.preference(preference), torch.no_grad():
                logits.append(model(input_ids).logits)
        base = root / f"base-{arch}"
        if not base.exists():
            MODEL_FACTORIES[arch](0).save_pretrained(base)
        data = root / name / "data.pt"
        torch.save({"input_ids": input_ids, "preferences": PREFERENCES, "logits": logits}, data)
        jobs.append({"name": name, "export": str(root / name / "export"), "base": str(base), "data": str(data)})
        jobs[-1]["mode"] = mode
    out = subprocess.run(
        [sys.executable, "-c", _SERVE_WITHOUT_PLUGIN, json.dumps(jobs)], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return root, out.stdout


def manifest_of(path):
    return json.loads((path / "panacea_serving.json").read_text())


@pytest.mark.parametrize("job", ["basis-llama", "basis-gpt2"])
def test_basis_serves_every_preference_without_the_plugin(served, job):
    root, out = served
    assert f"OK {job}\n" in out, out[-3000:]
    manifest = manifest_of(root / job / "export")
    names = JOBS[job][3] or [f"objective_{i}" for i in range(3)]
    assert manifest["form"] == "basis" and manifest["objectives"] == names
    assert manifest["adapters"] == [
        {"name": "shared", "path": "shared", "rank": 4, "scale": 1.0},
        *(
            {"name": f"objective_{i}", "path": f"objective_{i}", "rank": 1, "objective": n}
            for i, n in enumerate(names)
        ),
    ]
    for entry in manifest["adapters"]:
        config = json.loads((root / job / "export" / entry["path"] / "adapter_config.json").read_text())
        assert config["peft_type"] == "LORA" and config["r"] == config["lora_alpha"] == entry["rank"]
        assert config["target_modules"] == sorted(config["target_modules"]) and len(config["target_modules"]) > 1


def test_vertices_serve_by_scales_and_by_a_linear_merge_of_factors(served):
    root, out = served
    assert "OK vertices-llama\n" in out, out[-3000:]
    manifest = manifest_of(root / "vertices-llama" / "export")
    assert manifest["form"] == "vertices"
    assert [(e["path"], e["rank"], e["objective"]) for e in manifest["adapters"]] == [
        (f"vertex_{i}", 5, f"objective_{i}") for i in range(3)
    ]


@pytest.mark.parametrize("job", ["merged-llama", "merged-gpt2"])
def test_shared_merged_base_and_rank_one_loras_match(served, job):
    root, out = served
    assert f"OK {job}\n" in out, out[-3000:]
    manifest = manifest_of(root / job / "export")
    assert manifest["form"] == "shared_merged" and manifest["base_model"] == "base"
    assert [e["rank"] for e in manifest["adapters"]] == [1, 1, 1]
    assert (root / job / "export" / "base" / "config.json").exists()


def test_serving_exports_are_byte_identical_when_repeated(tmp_path):
    model = panacea_model("llama", pref_dim=2)
    for run in ("a", "b"):
        model.export_lora_basis(tmp_path / run)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 1 + 3 * 3
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_serving_export_refuses_a_non_empty_folder_unless_overwrite(tmp_path):
    model = panacea_model("llama")
    adapter = tmp_path / "adapter"
    model.save_pretrained(adapter)
    before = {p.name: p.read_bytes() for p in adapter.iterdir()}
    for export in (model.export_lora_basis, model.export_lora_vertices, model.export_shared_merged):
        with pytest.raises(FileExistsError, match="already holds an adapter"):
            export(adapter)
    assert {p.name: p.read_bytes() for p in adapter.iterdir()} == before
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="not empty.*overwrite=True"):
        model.export_lora_basis(notes)
    assert sorted(p.name for p in notes.iterdir()) == ["todo.txt"]
    (tmp_path / "file").write_text("keep")
    with pytest.raises(FileExistsError, match="is a file"):
        model.export_lora_vertices(tmp_path / "file")
    model.export_lora_basis(notes, overwrite=True)
    assert (notes / "todo.txt").read_text() == "keep" and (notes / "panacea_serving.json").exists()


def test_serving_export_refuses_modules_to_save_and_a_merged_adapter(tmp_path):
    with_head = panacea_model("llama", modules_to_save=["lm_head"])
    with pytest.raises(ValueError, match="modules_to_save.*export_lora"):
        with_head.export_lora_basis(tmp_path / "basis")
    assert not (tmp_path / "basis").exists()
    model = panacea_model("llama")
    model.merge_adapter()
    with pytest.raises(ValueError, match="merged into the base weights.*unmerge_adapter"):
        model.export_shared_merged(tmp_path / "merged")
    assert not (tmp_path / "merged" / "panacea_serving.json").exists()
