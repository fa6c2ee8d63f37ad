"""`panacea export --basis / --vertices / --shared-merged [--gguf]` through main(argv), on a tiny local model."""

import json

import pytest

from peft_panacea.cli import main

from .models import panacea_model


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli_serving") / "adapter"
    panacea_model("llama", r=2).save_pretrained(path)
    return path


def export(adapter, model_dir, out, *flags):
    return main(["export", "--adapter", str(adapter), "--model", str(model_dir), "--out", str(out), *flags])


@pytest.mark.parametrize(
    "flag, folders",
    [
        ("--basis", ["gguf", "objective_0", "objective_1", "shared"]),
        ("--vertices", ["gguf", "vertex_0", "vertex_1"]),
        ("--shared-merged", ["base", "gguf", "objective_0", "objective_1"]),
    ],
)
def test_serving_export_writes_the_form_and_gguf(adapter, tiny_model_dir, tmp_path, capsys, flag, folders):
    assert export(adapter, tiny_model_dir, tmp_path / "out", flag, "--gguf") == 0
    assert "serving export with GGUF adapters" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_dir()) == folders
    manifest = json.loads((tmp_path / "out" / "panacea_serving.json").read_text())
    assert all((tmp_path / "out" / entry["gguf"]).is_file() for entry in manifest["adapters"])
    if flag == "--shared-merged":
        assert (tmp_path / "out" / "base" / "tokenizer.json").exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--basis", "--preference", "0.5,0.5"], "--basis serves every preference; drop --preference"),
        (["--gguf", "--preference", "0.5,0.5"], "--gguf writes the adapters of a serving export"),
        ([], "--preference is required"),
    ],
)
def test_serving_flag_errors_are_one_line(adapter, tiny_model_dir, tmp_path, capsys, flags, message):
    assert export(adapter, tiny_model_dir, tmp_path / "out", *flags) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_serving_export_refuses_a_non_empty_folder_without_force(adapter, tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep")
    assert export(adapter, tiny_model_dir, out, "--vertices") == 2
    assert "is not empty" in capsys.readouterr().err and [p.name for p in out.iterdir()] == ["notes.txt"]
    assert export(adapter, tiny_model_dir, out, "--vertices", "--force") == 0
    assert (out / "notes.txt").read_text() == "keep" and (out / "vertex_1" / "adapter_config.json").exists()


def test_gguf_for_an_unsupported_architecture_is_refused_before_export(tmp_path, capsys):
    model = panacea_model("gpt2")
    model.save_pretrained(tmp_path / "adapter")
    model.base_model.model.save_pretrained(tmp_path / "gpt2")
    assert export(tmp_path / "adapter", tmp_path / "gpt2", tmp_path / "out", "--basis", "--gguf") == 2
    assert "supports Llama-architecture models" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("merged", [False, True])
def test_single_preference_export_still_works(adapter, tiny_model_dir, tmp_path, merged):
    flags = ["--preference", "0.3,0.7", *(["--merged"] if merged else [])]
    assert export(adapter, tiny_model_dir, tmp_path / "out", *flags) == 0
    if merged:
        assert (tmp_path / "out" / "model.safetensors").exists()
    else:
        config = json.loads((tmp_path / "out" / "adapter_config.json").read_text())
        assert config["peft_type"] == "LORA" and config["target_modules"] == sorted(config["target_modules"])
