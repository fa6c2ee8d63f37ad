"""The LoRA folders of a serving export as GGUF LoRA adapters for llama.cpp (``llama-server --lora``).

Written with the ``gguf`` package in float32, as llama.cpp's ``convert_lora_to_gguf.py`` lays them out: each
adapted weight ``blk.N.<name>.weight`` gets ``.lora_a`` (rank x in) and ``.lora_b`` (out x rank). llama.cpp's
converter reorders the rows of Llama's q and k projections for its rotary layout, so ``lora_b`` of those two
gets the same row order; without it every attention score would be wrong.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from .._extras import raise_if_extra_missing
from ..tuner.export import PEFT_PREFIX
from ..tuner.serving_export import MANIFEST_NAME
from .manifest import ServingManifest

try:
    import gguf
except ImportError as error:
    raise_if_extra_missing("serve", "Writing GGUF adapters", error)
    raise

# HF model types whose llama.cpp architecture is "llama", with the q/k row order of its converter.
LLAMA_TYPES = ("llama", "mistral")
GGUF_FOLDER = "gguf"


def rotary_permute(rows: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's row order for a q or k projection with ``n_head`` heads (k: the key/value heads): within each
    head, the two rotary halves are interleaved."""
    return rows.reshape(n_head, 2, rows.shape[0] // n_head // 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)


def read_base_config(config_dir: str | Path) -> dict:
    """The base model's config.json, refused unless llama.cpp's architecture for it is "llama"."""
    file = Path(config_dir) / "config.json"
    if not file.is_file():
        raise FileNotFoundError(
            f"No config.json in '{config_dir}'; pass the base model folder the adapter was trained on."
        )
    config = json.loads(file.read_text(encoding="utf-8"))
    if config.get("model_type") not in LLAMA_TYPES:
        raise ValueError(
            f"GGUF export supports Llama-architecture models ({', '.join(LLAMA_TYPES)}), not "
            f"{config.get('model_type')!r}; convert the PEFT folders with llama.cpp's convert_lora_to_gguf.py instead."
        )
    return config


def lora_folder_to_gguf(lora_dir: str | Path, base_config: dict, out_file: str | Path) -> Path:
    """Write one PEFT LoRA folder (scaling 1, as the serving exports write them) as a GGUF LoRA adapter."""
    lora_dir, out_file = Path(lora_dir), Path(out_file)
    adapter_config = json.loads((lora_dir / "adapter_config.json").read_text(encoding="utf-8"))
    tensors = load_file(str(lora_dir / "adapter_model.safetensors"))
    n_layers = base_config["num_hidden_layers"]
    n_head = base_config["num_attention_heads"]
    n_kv = base_config.get("num_key_value_heads") or n_head
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, n_layers)
    writer = gguf.GGUFWriter(str(out_file), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    writer.add_string(gguf.Keys.General.TYPE, gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(adapter_config["lora_alpha"]))
    for key in sorted(k for k in tensors if k.endswith(".lora_A.weight")):
        module = key[len(PEFT_PREFIX) : -len(".lora_A.weight")]
        name = names.get_name(module)
        if name is None:
            raise ValueError(f"No llama.cpp tensor for the adapted module '{module}'.")
        down = tensors[key].astype(np.float32)
        up = tensors[key.replace(".lora_A.", ".lora_B.")].astype(np.float32)
        if name.endswith(".attn_q"):
            up = rotary_permute(up, n_head)
        elif name.endswith(".attn_k"):
            up = rotary_permute(up, n_kv)
        writer.add_tensor(f"{name}.weight.lora_a", np.ascontiguousarray(down))
        writer.add_tensor(f"{name}.weight.lora_b", np.ascontiguousarray(up))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out_file


def export_gguf(export_dir: str | Path, base_model_dir: str | Path | None = None) -> list[Path]:
    """Write every adapter of a serving export as ``gguf/<name>.gguf`` and record each file in the manifest (the
    order of ``--lora`` flags for llama-server). The base config comes from the export's merged ``base/`` or from
    ``base_model_dir``."""
    manifest = ServingManifest.load(export_dir)
    if manifest.form == "shared_merged":
        base_model_dir = manifest.root / manifest.base_model
    if base_model_dir is None:
        raise ValueError("Pass the base model folder (its config.json gives the layer and head counts).")
    config = read_base_config(base_model_dir)
    out_dir = manifest.root / GGUF_FOLDER
    out_dir.mkdir(exist_ok=True)
    files = [lora_folder_to_gguf(a.path, config, out_dir / f"{a.name}.gguf") for a in manifest.adapters]
    data = json.loads((manifest.root / MANIFEST_NAME).read_text(encoding="utf-8"))
    for entry, file in zip(data["adapters"], files, strict=True):
        entry["gguf"] = f"{GGUF_FOLDER}/{file.name}"
    (manifest.root / MANIFEST_NAME).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return files
