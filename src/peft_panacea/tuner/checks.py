"""Load-time checks: an adapter's saved weights must fit the model and config they are loaded into.

Shapes are read from the weights file's header (``saved_weight_shapes``), so a config that disagrees with its
weights is refused before PEFT or transformers builds layers for it; the full check of target modules and shapes
runs on the keys once they are mapped to the model (``check_adapter_weights_match``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import EntryNotFoundError
from safetensors import safe_open
from torch import nn

_MAX_LISTED = 5
WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")
HUB_KWARGS = ("revision", "token", "cache_dir", "local_files_only")

Shapes = Mapping[str, torch.Size]


def _module_path(key: str) -> str:
    return key.split(".panacea_", 1)[0]


def _listed(paths: set[str]) -> str:
    shown = sorted(paths)[:_MAX_LISTED]
    more = len(paths) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def hub_kwargs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The download options among a loader's keyword arguments, to find the weights where the loader will."""
    return {key: kwargs[key] for key in HUB_KWARGS if kwargs.get(key) is not None}


def _weights_file(model_id: str, subfolder: str | None, filename: str, download: Mapping[str, Any]) -> str | None:
    folder = os.path.join(model_id, subfolder) if subfolder else model_id
    if os.path.isdir(folder):
        path = os.path.join(folder, filename)
        return path if os.path.isfile(path) else None
    try:  # the file the loader downloads next anyway; it then comes from the cache
        return hf_hub_download(model_id, filename, subfolder=subfolder, **download)
    except (EntryNotFoundError, OSError, ValueError):
        return None


def saved_weight_shapes(
    model_id: str | os.PathLike, subfolder: str | None = None, **download: Any
) -> dict[str, torch.Size] | None:
    """The shapes of a saved adapter's tensors, without loading them: from the safetensors header, or a ``.bin``
    mapped to the meta device. ``None`` when there is no weights file (a folder holding only a config)."""
    for filename in WEIGHT_FILES:
        path = _weights_file(str(model_id), subfolder, filename, download)
        if path is None:
            continue
        if filename.endswith(".safetensors"):
            with safe_open(path, framework="pt") as handle:
                return {key: torch.Size(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
        state = torch.load(path, map_location="meta", weights_only=True)
        return {key: tensor.shape for key, tensor in state.items()}
    return None


def check_saved_rank(config: Any, saved: Shapes | None) -> None:
    """Raise ``ValueError`` if the saved weights were trained with another ``r`` or ``pref_dim`` than ``config``.

    Works on shapes alone, so it runs before any layer is built: a config claiming a huge ``r`` is refused instead
    of allocating gigabytes for it first.
    """
    for key, shape in (saved or {}).items():
        if ".panacea_A." not in key:
            continue
        sigma_shape = saved.get(key.replace(".panacea_A.", ".panacea_E."))
        if sigma_shape is None:  # a missing layer: named by the target-module check
            continue
        saved_r = sigma_shape[0]
        if (saved_r, shape[0]) == (config.r, config.r + config.pref_dim):
            continue
        saved_m = shape[0] - saved_r
        raise ValueError(
            f"The saved Panacea adapter was trained with r={saved_r}, pref_dim={saved_m} "
            f"(rank {shape[0]}), but the config asks for r={config.r}, pref_dim={config.pref_dim} "
            f"(rank {config.r + config.pref_dim}). Use the adapter_config.json saved with the weights; a preference "
            "vector must have as many weights as the adapter was trained with."
        )


def check_adapter_weights_match(model: nn.Module, config: Any, adapter_name: str, checkpoint: Shapes) -> None:
    """Raise ``ValueError`` if ``checkpoint`` (keys already remapped to the model; tensors or shapes) has other
    layers or shapes than the adapter built in ``model``.

    Catches an adapter saved with another ``pref_dim`` or ``r`` than its config claims, or for other target modules,
    before part of it is loaded and the rest left at its random initialisation.
    """
    saved = {key: torch.Size(value.shape if hasattr(value, "shape") else value) for key, value in checkpoint.items()}
    saved = {key: shape for key, shape in saved.items() if ".panacea_" in key}
    check_saved_rank(config, saved)
    expected = {
        key: tensor.shape
        for key, tensor in model.state_dict().items()
        if ".panacea_" in key and f".{adapter_name}." in key
    }
    missing = {_module_path(k) for k in expected.keys() - saved.keys()}
    unexpected = {_module_path(k) for k in saved.keys() - expected.keys()}
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"no weights for adapted modules {_listed(missing)}")
        if unexpected:
            parts.append(f"weights for modules that are not adapted here: {_listed(unexpected)}")
        raise ValueError(
            f"The saved Panacea adapter '{adapter_name}' does not match the target modules of its config: "
            f"{'; '.join(parts)}. Load it with the adapter_config.json it was saved with, on the same base model."
        )
    for key, shape in saved.items():
        if shape != expected[key]:
            raise ValueError(
                f"Saved Panacea weight {key} has shape {tuple(shape)} but the model expects {tuple(expected[key])}; "
                "the adapter was saved for another base model or configuration."
            )
