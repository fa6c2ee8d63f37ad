"""Export a Panacea adapter at one preference as a plain PEFT LoRA adapter.

At a fixed preference the update ``c * U diag(sigma, s*lambda) V^T`` is exactly a rank-(r+m) LoRA with
``lora_B = U`` and ``lora_A = c * diag(sigma, s*lambda) V^T`` (scaling 1), so any LoRA runtime can serve it.
"""

from __future__ import annotations

import json
import os

import torch
from peft import LoraConfig
from peft.utils import SAFETENSORS_WEIGHTS_NAME, ModulesToSaveWrapper
from safetensors.torch import save_file
from torch import nn

from .config import PanaceaConfig
from .layer import PanaceaLayer

PEFT_PREFIX = "base_model.model."


def lora_tensors(
    model: nn.Module, adapter_name: str, pref: torch.Tensor | None = None
) -> tuple[dict[str, torch.Tensor], list[str]]:
    tensors: dict[str, torch.Tensor] = {}
    targets: list[str] = []
    with torch.no_grad():
        for path, layer in model.named_modules():
            if not isinstance(layer, PanaceaLayer) or adapter_name not in layer.panacea_A:
                continue
            down, up = layer.lora_factors(adapter_name, pref)
            tensors[f"{PEFT_PREFIX}{path}.lora_A.weight"] = down
            tensors[f"{PEFT_PREFIX}{path}.lora_B.weight"] = up
            targets.append(path)
        for path, module in model.named_modules():
            if isinstance(module, ModulesToSaveWrapper) and adapter_name in module.modules_to_save:
                for name, tensor in module.modules_to_save[adapter_name].state_dict().items():
                    tensors[f"{PEFT_PREFIX}{path}.{name}"] = tensor
    return {k: v.detach().cpu().contiguous() for k, v in tensors.items()}, targets


ADAPTER_FILES = ("adapter_config.json", SAFETENSORS_WEIGHTS_NAME, "adapter_model.bin")


def check_export_directory(save_directory: str, overwrite: bool) -> None:
    """Refuse, before any work, a path that is a file or a folder that already holds an adapter: exporting into
    the trained Panacea adapter's folder would replace it with a single preference."""
    if os.path.isfile(save_directory):
        raise FileExistsError(f"'{save_directory}' is a file; export into a folder path.")
    existing = [name for name in ADAPTER_FILES if os.path.exists(os.path.join(save_directory, name))]
    if existing and not overwrite:
        raise FileExistsError(
            f"'{save_directory}' already holds an adapter ({', '.join(existing)}); exporting there would replace "
            "it. Choose another folder, or pass overwrite=True (--force on the command line) to replace it."
        )


def _base_model_metadata(base: str | None) -> str:
    """The card's ``base_model`` line, which the Hub uses to link an adapter to its base model (a JSON string is
    valid YAML, so any name is quoted safely)."""
    return f"base_model: {json.dumps(base)}\n" if base else ""


def write_lora_folder(
    tensors: dict[str, torch.Tensor],
    targets: list[str],
    rank: int,
    config: PanaceaConfig,
    save_directory: str,
    readme: str,
    base_model_name_or_path: str | None = None,
) -> str:
    """Write a plain PEFT LoRA folder (scaling 1): ``adapter_config.json`` with sorted ``target_modules`` (PEFT
    writes a set in hash order, so two exports of one adapter would differ), safetensors weights, a README."""
    base = base_model_name_or_path or config.base_model_name_or_path
    lora_config = LoraConfig(
        r=rank,
        lora_alpha=rank,
        lora_dropout=0.0,
        target_modules=sorted(targets),
        modules_to_save=config.modules_to_save,
        fan_in_fan_out=config.fan_in_fan_out,
        bias="none",
        task_type=config.task_type,
        base_model_name_or_path=base,
        revision=config.revision,
        inference_mode=True,
    )
    fields = {key: sorted(value) if isinstance(value, set) else value for key, value in lora_config.to_dict().items()}
    os.makedirs(save_directory, exist_ok=True)
    with open(os.path.join(save_directory, "adapter_config.json"), "w", encoding="utf-8") as handle:
        handle.write(json.dumps(fields, indent=2, sort_keys=True))
    save_file(tensors, os.path.join(save_directory, SAFETENSORS_WEIGHTS_NAME), metadata={"format": "pt"})
    with open(os.path.join(save_directory, "README.md"), "w", encoding="utf-8") as handle:
        handle.write(
            f"---\nlibrary_name: peft\n{_base_model_metadata(base)}---\n\n{readme}\n\n"
            "It is a plain PEFT LoRA: load it with `PeftModel.from_pretrained(base_model, path)` or serve it on "
            "any LoRA runtime; `peft_panacea` is not needed.\n"
        )
    return save_directory


def write_lora_adapter(
    model: nn.Module, config: PanaceaConfig, adapter_name: str, preference: torch.Tensor, save_directory: str
) -> str:
    """Write the adapter at ``preference`` as one LoRA of rank r+m.

    ``model`` is the transformers model holding the Panacea layers (the tuner's ``.model``), already set to
    ``preference``, which is only recorded in the README; taking plain arguments keeps this module free of the tuner.
    """
    tensors, targets = lora_tensors(model, adapter_name)
    weights = dict(zip(config.objective_names, preference.tolist(), strict=True))
    readme = (
        f"# LoRA exported from a Panacea adapter\n\nRank {config.rank} LoRA equal to the Panacea adapter "
        f"'{adapter_name}' at the preference:\n\n```json\n{json.dumps(weights, indent=2)}\n```"
    )
    return write_lora_folder(tensors, targets, config.rank, config, save_directory, readme)
