"""Load-time checks: an adapter's saved weights must fit the model and config they are loaded into."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

_MAX_LISTED = 5


def _module_path(key: str) -> str:
    return key.split(".panacea_", 1)[0]


def _listed(paths: set[str]) -> str:
    shown = sorted(paths)[:_MAX_LISTED]
    more = len(paths) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def check_adapter_weights_match(
    model: nn.Module, config: Any, adapter_name: str, checkpoint: dict[str, torch.Tensor]
) -> None:
    """Raise ``ValueError`` if ``checkpoint`` (keys already remapped to the model) has other layers or shapes.

    Catches an adapter saved with another ``pref_dim`` or ``r`` than its config claims, or for other target modules,
    before PEFT loads part of it and leaves the rest at its random initialisation.
    """
    expected = {
        key: tensor.shape
        for key, tensor in model.state_dict().items()
        if ".panacea_" in key and f".{adapter_name}." in key
    }
    saved = {key: tensor.shape for key, tensor in checkpoint.items() if ".panacea_" in key}
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
        if ".panacea_A." in key and shape != expected[key]:
            sigma_shape = saved.get(key.replace(".panacea_A.", ".panacea_E."))
            saved_r = sigma_shape[0] if sigma_shape is not None else None
            saved_m = shape[0] - saved_r if saved_r is not None else None
            raise ValueError(
                f"The saved Panacea adapter was trained with r={saved_r}, pref_dim={saved_m} "
                f"(rank {shape[0]}), but the config asks for r={config.r}, pref_dim={config.pref_dim} "
                f"(rank {expected[key][0]}). Use the adapter_config.json saved with the weights; a preference "
                "vector must have as many weights as the adapter was trained with."
            )
    for key, shape in saved.items():
        if shape != expected[key]:
            raise ValueError(
                f"Saved Panacea weight {key} has shape {tuple(shape)} but the model expects {tuple(expected[key])}; "
                "the adapter was saved for another base model or configuration."
            )
