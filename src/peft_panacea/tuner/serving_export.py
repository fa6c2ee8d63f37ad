"""Export a Panacea adapter so that one LoRA server answers every preference, chosen per request.

The update ``c U diag(sigma, s*lambda) V^T`` is linear in lambda, so three sets of plain PEFT LoRA folders serve
it exactly on any server that scales adapters per request:

- ``basis``: a shared rank-r LoRA (scale 1) plus one rank-1 LoRA per objective (scale lambda_i);
- ``vertices``: the m pure-preference LoRAs (rank r+m, scale lambda_i): since lambda sums to 1, the mix of the
  updates at e_i is the update at lambda. They share ``lora_B`` (= U), so even a server that mixes the A and B
  factors separately (LoRAX's linear merge) is exact;
- ``shared_merged``: a new base checkpoint with the shared part merged into its weights, plus the m rank-1 LoRAs,
  so a request carries only rank-1 adapters.

Each export writes a manifest (``panacea_serving.json``) naming the objectives in order and each adapter's scale,
which ``peft_panacea.serving`` turns into a server request.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import torch
from peft.utils.other import transpose
from torch import nn

from .config import PanaceaConfig
from .export import PEFT_PREFIX, check_export_directory, lora_tensors, write_lora_folder
from .layer import PanaceaLayer

MANIFEST_NAME = "panacea_serving.json"
MANIFEST_FORMAT = "peft-panacea-serving"
MANIFEST_VERSION = 1
SHARED = "shared"
MERGED_BASE = "base"

SCALE_RULE = (
    "Activate every adapter of `adapters` on each request: one with `scale` at that constant, one with `objective` "
    "at the preference weight of that objective (lambda_i, weights >= 0 summing to 1). The sum is the Panacea "
    "adapter at lambda, exactly."
)


def objective_folder(index: int) -> str:
    return f"objective_{index}"


def vertex_folder(index: int) -> str:
    return f"vertex_{index}"


def check_serving_directory(save_directory: str, overwrite: bool) -> None:
    """Refuse, before any work, a file path, a folder holding an adapter, or any non-empty folder: a serving
    export writes several sub-folders and a manifest, which would mix with what is there."""
    check_export_directory(save_directory, overwrite)
    if os.path.isdir(save_directory) and os.listdir(save_directory) and not overwrite:
        raise FileExistsError(
            f"'{save_directory}' is not empty; a serving export writes a manifest and several adapter folders "
            "there. Choose a new or empty folder, or pass overwrite=True (--force on the command line)."
        )


def check_exportable(model: nn.Module, config: PanaceaConfig) -> None:
    """A serving export carries only the low-rank update: refuse what it would silently drop."""
    if config.modules_to_save:
        raise ValueError(
            f"This adapter also trains modules_to_save={config.modules_to_save}, which LoRA servers cannot scale "
            "per request. Export one preference at a time with export_lora instead."
        )


def _panacea_layers(model: nn.Module, adapter_name: str) -> list[tuple[str, PanaceaLayer]]:
    return [
        (path, layer)
        for path, layer in model.named_modules()
        if isinstance(layer, PanaceaLayer) and adapter_name in layer.panacea_A
    ]


def _basis_tensors(model: nn.Module, adapter_name: str) -> tuple[list[dict[str, torch.Tensor]], list[str]]:
    """One tensor dict per basis LoRA (shared first, then objective 0..m-1) and the adapted module paths."""
    parts: list[dict[str, torch.Tensor]] = []
    targets: list[str] = []
    with torch.no_grad():
        for path, layer in _panacea_layers(model, adapter_name):
            pairs = layer.basis_factors(adapter_name)
            parts = parts or [{} for _ in pairs]
            for tensors, (down, up) in zip(parts, pairs, strict=True):
                tensors[f"{PEFT_PREFIX}{path}.lora_A.weight"] = down.detach().cpu().contiguous()
                tensors[f"{PEFT_PREFIX}{path}.lora_B.weight"] = up.detach().cpu().contiguous()
            targets.append(path)
    return parts, targets


def _write_manifest(
    save_directory: str, form: str, config: PanaceaConfig, adapter_name: str, adapters: list[dict], base: str | None
) -> None:
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "form": form,
        "source_adapter": adapter_name,
        "objectives": config.objective_names,
        "base_model": base,
        "scale_rule": SCALE_RULE,
        "adapters": adapters,
    }
    with open(os.path.join(save_directory, MANIFEST_NAME), "w", encoding="utf-8") as handle:
        handle.write(json.dumps(manifest, indent=2) + "\n")


def _objective_entries(config: PanaceaConfig, folder: Callable[[int], str], rank: int) -> list[dict]:
    return [
        {"name": folder(i), "path": folder(i), "rank": rank, "objective": name}
        for i, name in enumerate(config.objective_names)
    ]


def _write_rank_one_loras(
    parts: list[dict[str, torch.Tensor]],
    targets: list[str],
    config: PanaceaConfig,
    adapter_name: str,
    save_directory: str,
    base: str | None,
) -> None:
    for i, name in enumerate(config.objective_names):
        readme = (
            f"# Rank-1 LoRA of objective '{name}' (Panacea adapter '{adapter_name}')\n\nServe it at scale "
            f"lambda_{i} (the weight of '{name}'); see `{MANIFEST_NAME}` one folder up."
        )
        write_lora_folder(
            parts[i], targets, 1, config, os.path.join(save_directory, objective_folder(i)), readme, base
        )


def write_basis(model: nn.Module, config: PanaceaConfig, adapter_name: str, save_directory: str) -> str:
    """Shared rank-r LoRA (``shared/``, scale 1) and one rank-1 LoRA per objective (``objective_i/``)."""
    parts, targets = _basis_tensors(model, adapter_name)
    readme = (
        f"# Shared rank-{config.r} LoRA of the Panacea adapter '{adapter_name}'\n\nThe preference-independent "
        f"part of the update; serve it at scale 1 with the objective LoRAs, see `{MANIFEST_NAME}` one folder up."
    )
    write_lora_folder(parts[0], targets, config.r, config, os.path.join(save_directory, SHARED), readme)
    _write_rank_one_loras(parts[1:], targets, config, adapter_name, save_directory, None)
    shared = {"name": SHARED, "path": SHARED, "rank": config.r, "scale": 1.0}
    adapters = [shared, *_objective_entries(config, objective_folder, 1)]
    _write_manifest(save_directory, "basis", config, adapter_name, adapters, config.base_model_name_or_path)
    return save_directory


def write_vertices(model: nn.Module, config: PanaceaConfig, adapter_name: str, save_directory: str) -> str:
    """The m pure-preference LoRAs (``vertex_i/``, rank r+m), each what ``export_lora`` writes at e_i."""
    for i, name in enumerate(config.objective_names):
        vertex = torch.zeros(config.pref_dim)
        vertex[i] = 1.0
        tensors, targets = lora_tensors(model, adapter_name, vertex)
        readme = (
            f"# LoRA of the Panacea adapter '{adapter_name}' at the pure preference for '{name}'\n\nServe it at "
            f"scale lambda_{i} together with the other vertices; see `{MANIFEST_NAME}` one folder up."
        )
        write_lora_folder(
            tensors, targets, config.rank, config, os.path.join(save_directory, vertex_folder(i)), readme
        )
    adapters = _objective_entries(config, vertex_folder, config.rank)
    _write_manifest(save_directory, "vertices", config, adapter_name, adapters, config.base_model_name_or_path)
    return save_directory


def _merged_state_dict(model: nn.Module, adapter_name: str) -> dict[str, torch.Tensor]:
    """The base model's weights under their plain names, each adapted weight plus the shared update."""
    shared = {}
    with torch.no_grad():
        for path, layer in _panacea_layers(model, adapter_name):
            down, up = layer.basis_factors(adapter_name)[0]
            shared[f"{path}.weight"] = transpose(up @ down, layer.fan_in_fan_out)
        state = {}
        for key, tensor in model.state_dict().items():
            if ".panacea_" in key:
                continue
            key = key.replace(".base_layer.", ".")
            if key in shared:
                tensor = (tensor.float() + shared[key].float()).to(tensor.dtype)
            state[key] = tensor
    return state


def write_shared_merged(model: nn.Module, config: PanaceaConfig, adapter_name: str, save_directory: str) -> str:
    """A transformers checkpoint (``base/``) with the shared update merged, and the m rank-1 LoRAs on top of it."""
    if any(getattr(layer, "merged", False) for _, layer in _panacea_layers(model, adapter_name)):
        raise ValueError(
            "The adapter is merged into the base weights; its base checkpoint would count the update twice. "
            "Call `model.unmerge_adapter()` first."
        )
    base_dir = os.path.join(save_directory, MERGED_BASE)
    model.save_pretrained(base_dir, state_dict=_merged_state_dict(model, adapter_name))
    parts, targets = _basis_tensors(model, adapter_name)
    _write_rank_one_loras(parts[1:], targets, config, adapter_name, save_directory, os.path.abspath(base_dir))
    adapters = _objective_entries(config, objective_folder, 1)
    _write_manifest(save_directory, "shared_merged", config, adapter_name, adapters, MERGED_BASE)
    return save_directory
