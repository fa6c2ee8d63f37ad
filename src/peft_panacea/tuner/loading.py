"""One set of checks on every way in from a saved adapter, and no half-built adapter left behind by a failed load.

PEFT's ``PeftModel.from_pretrained`` / ``load_adapter`` read the config through ``PanaceaConfig.from_pretrained``
(which checks the saved ranks) and load through ``set_peft_model_state_dict`` (whose key remapping runs
``check_adapter_weights_match``). transformers' ``model.load_adapter`` does neither, so its wrapper here runs both
checks itself. Each wrapper takes the adapter it added back out if the load fails, so a retry under the same name
starts clean. ``registration`` installs them; they act on Panacea adapters only.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import torch
from peft import PeftConfig
from torch import nn

from ._peft_type import PANACEA
from .checks import Shapes, check_saved_rank, hub_kwargs, saved_weight_shapes
from .layer import PanaceaLayer
from .model import PanaceaModel


def _holds(model: nn.Module, adapter_name: str) -> bool:
    return any(isinstance(m, PanaceaLayer) and adapter_name in m.panacea_A for m in model.modules())


def discard_adapter(model: nn.Module, adapter_name: str) -> None:
    """Take ``adapter_name`` out of a model it was injected into: layers that held only it become their base layer
    again, the others forget it, and the model's ``peft_config`` entry goes."""
    for path, module in list(model.named_modules()):
        if not isinstance(module, PanaceaLayer) or adapter_name not in module.panacea_A:
            continue
        if set(module.panacea_A) == {adapter_name}:
            parent, _, child = path.rpartition(".")
            setattr(model.get_submodule(parent), child, module.get_base_layer())
        else:
            module.delete_adapter(adapter_name)
    configs = getattr(model, "peft_config", None)
    if isinstance(configs, dict):
        configs.pop(adapter_name, None)
        if not configs:
            del model.peft_config


def check_loaded(model: nn.Module, config: Any, adapter_name: str, saved: Shapes) -> None:
    """Run the key and shape checks of a PEFT load on ``saved`` (checkpoint keys and shapes) after the fact."""
    meta = {key: torch.empty(shape, device="meta") for key, shape in saved.items()}
    PanaceaModel._remap_adapter_state_dict_for_load(model, config, adapter_name, meta)  # raises on a mismatch


def wrap_peft_from_pretrained(from_pretrained: Callable[..., Any]) -> classmethod:
    """``PeftModel.from_pretrained`` that leaves the base model as it was when loading a Panacea adapter fails."""

    @functools.wraps(from_pretrained)
    def wrapper(cls: type, model: nn.Module, model_id: Any, adapter_name: str = "default", *args: Any, **kwargs: Any):
        fresh = not _holds(model, adapter_name)
        try:
            return from_pretrained(cls, model, model_id, adapter_name, *args, **kwargs)
        except Exception:
            if fresh and _holds(model, adapter_name):
                discard_adapter(model, adapter_name)
            raise

    return classmethod(wrapper)


def wrap_peft_load_adapter(load_adapter: Callable[..., Any]) -> Callable[..., Any]:
    """``PeftModel.load_adapter`` that deletes the Panacea adapter it added when loading its weights fails."""

    @functools.wraps(load_adapter)
    def wrapper(self: Any, model_id: Any, adapter_name: str, *args: Any, **kwargs: Any) -> Any:
        existed = adapter_name in self.peft_config
        try:
            return load_adapter(self, model_id, adapter_name, *args, **kwargs)
        except Exception:
            added = self.peft_config.get(adapter_name)
            if not existed and added is not None and added.peft_type == PANACEA:
                self.delete_adapter(adapter_name)
            raise

    return wrapper


def _saved_panacea_adapter(arguments: dict[str, Any]) -> tuple[Any, Shapes | None]:
    """The Panacea config and saved shapes a transformers ``load_adapter`` call will use; ``(None, None)`` for
    another adapter type."""
    options = {**arguments.get("kwargs", {}), **(arguments.get("adapter_kwargs") or {})}
    download = hub_kwargs({**options, "local_files_only": arguments.get("local_files_only")})
    model_id, subfolder = arguments.get("peft_model_id"), options.get("subfolder")
    config = arguments.get("peft_config")
    if config is None and model_id is not None:
        config = PeftConfig.from_pretrained(model_id, subfolder=subfolder, **download)
    if getattr(config, "peft_type", None) != PANACEA:
        return None, None
    state_dict = arguments.get("adapter_state_dict")
    if state_dict is not None:
        return config, {key: tensor.shape for key, tensor in state_dict.items()}
    return config, saved_weight_shapes(model_id, subfolder, **download)


def wrap_transformers_load_adapter(load_adapter: Callable[..., Any]) -> Callable[..., Any]:
    """transformers' ``model.load_adapter`` with the checks of a PEFT load, before building the layers (ranks) and
    after loading (target modules, shapes); a failed load deletes the adapter it added."""
    signature = inspect.signature(load_adapter)

    @functools.wraps(load_adapter)
    def wrapper(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind(self, *args, **kwargs).arguments
        config, saved = _saved_panacea_adapter(arguments)
        if config is None:
            return load_adapter(self, *args, **kwargs)
        check_saved_rank(config, saved)
        adapter_name = arguments.get("adapter_name") or "default"
        existed = adapter_name in (getattr(self, "peft_config", None) or {})
        try:
            result = load_adapter(self, *args, **kwargs)
            if saved is not None:
                check_loaded(self, config, adapter_name, saved)
        except Exception:
            if not existed and adapter_name in (getattr(self, "peft_config", None) or {}):
                self.delete_adapter(adapter_name)
            raise
        return result

    return wrapper
