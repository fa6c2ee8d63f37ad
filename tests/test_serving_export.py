"""Serving exports (basis, vertices, shared part merged): plain PEFT LoRA folders, loaded in a process that never
imports peft_panacea, reproduce the Panacea adapter at any preference from the manifest's scale rule."""

import json
import subprocess
import sys

import pytest
import torch

from .models import MODEL_FACTORIES, panacea_model

PREFERENCES = [[1.0, 0.0, 0.0], [0.2, 0.5, 0.3], [0.0, 0.25, 0.75]]

# Loads every adapter of the manifest with plain PEFT, activates them all at once and sets each one's scale as the
# scale rule says (constant, or the weight of its objective), then compares with Panacea's logits. With "linear",
# also mixes the A and B factors of the adapters separately with the preference weights, as LoRAX's linear merge
# does, and loads that one LoRA at scale 1.
_SERVE_WITHOUT_PLUGIN = """
import json, sys
from pathlib import Path
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM
from peft import PeftModel
from peft.tuners.lora import LoraLayer

root, base_dir, data_file, mode = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
data = torch.load(data_file)
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
                module.set_scale(entry["name"], entry["scale"] if "scale" in entry else weights[entry["objective"]])
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
assert "peft_panacea" not in sys.modules
print("OK", manifest["form"], len(data["preferences"]))
"""


def serve_without_plugin(tmp_path, arch, model, export_dir, input_ids, mode="scales"):
    """Panacea's logits at PREFERENCES, then the subprocess check; returns its stdout."""
    logits = []
    for preference in PREFERENCES:
        with model.preference(preference), torch.no_grad():
            logits.append(model(input_ids).logits)
    base = tmp_path / "base"
    if not base.exists():
        MODEL_FACTORIES[arch](0).save_pretrained(base)
    data = tmp_path / "data.pt"
    torch.save({"input_ids": input_ids, "preferences": PREFERENCES, "logits": logits}, data)
    out = subprocess.run(
        [sys.executable, "-c", _SERVE_WITHOUT_PLUGIN, str(export_dir), str(base), str(data), mode],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def manifest_of(path):
    return json.loads((path / "panacea_serving.json").read_text())


def test_basis_serves_every_preference_without_the_plugin(arch, input_ids, tmp_path):
    model = panacea_model(arch, r=4, pref_dim=3, preference_names=["helpful", "harmless", "humour"])
    model.set_preference([0.6, 0.2, 0.2])
    model.export_lora_basis(tmp_path / "basis")
    assert model.get_preference().tolist() == pytest.approx([0.6, 0.2, 0.2])
    manifest = manifest_of(tmp_path / "basis")
    assert manifest["form"] == "basis" and manifest["objectives"] == ["helpful", "harmless", "humour"]
    assert manifest["adapters"] == [
        {"name": "shared", "path": "shared", "rank": 4, "scale": 1.0},
        {"name": "objective_0", "path": "objective_0", "rank": 1, "objective": "helpful"},
        {"name": "objective_1", "path": "objective_1", "rank": 1, "objective": "harmless"},
        {"name": "objective_2", "path": "objective_2", "rank": 1, "objective": "humour"},
    ]
    for entry in manifest["adapters"]:
        config = json.loads((tmp_path / "basis" / entry["path"] / "adapter_config.json").read_text())
        assert config["peft_type"] == "LORA" and config["r"] == config["lora_alpha"] == entry["rank"]
        assert config["target_modules"] == sorted(config["target_modules"]) and len(config["target_modules"]) > 1
    assert "OK basis 3" in serve_without_plugin(tmp_path, arch, model, tmp_path / "basis", input_ids)


def test_vertices_serve_by_scales_and_by_a_linear_merge_of_factors(input_ids, tmp_path):
    model = panacea_model("llama", r=2, pref_dim=3)
    model.export_lora_vertices(tmp_path / "vertices")
    manifest = manifest_of(tmp_path / "vertices")
    assert manifest["form"] == "vertices"
    assert [(e["path"], e["rank"], e["objective"]) for e in manifest["adapters"]] == [
        (f"vertex_{i}", 5, f"objective_{i}") for i in range(3)
    ]
    out = serve_without_plugin(tmp_path, "llama", model, tmp_path / "vertices", input_ids, mode="linear")
    assert "OK vertices 3" in out


def test_shared_merged_base_and_rank_one_loras_match(arch, input_ids, tmp_path):
    model = panacea_model(arch, r=3, pref_dim=3)
    model.export_shared_merged(tmp_path / "merged")
    manifest = manifest_of(tmp_path / "merged")
    assert manifest["form"] == "shared_merged" and manifest["base_model"] == "base"
    assert [e["rank"] for e in manifest["adapters"]] == [1, 1, 1]
    assert (tmp_path / "merged" / "base" / "config.json").exists()
    out = serve_without_plugin(tmp_path, arch, model, tmp_path / "merged", input_ids)
    assert "OK shared_merged 3" in out


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
