"""Registers Panacea with PEFT when ``peft_panacea`` is imported (idempotent): the one module that patches PEFT.

Two small extensions of ``PeftModel`` are needed because PEFT has no plugin hooks for them; both act only on
models whose adapter type is PANACEA:

* ``preference`` joins ``special_peft_forward_args``, so ``model(..., preference=p)`` and ``model.generate(...,
  preference=p)`` consume it instead of passing it to the transformers model;
* ``from_pretrained`` / ``load_adapter`` (and transformers' ``PeftAdapterMixin.load_adapter``) run the load-time
  checks on every path and take a half-built adapter back out when a load fails (see ``loading``);
* ``create_or_update_model_card`` (save_pretrained, after PEFT has written its standard card),
  ``save_pretrained`` (the cards of adapters saved in sub-folders) and ``_upload_modified_files`` (push_to_hub,
  which replaces the saved README.md with the Hub's card, marked ``library_name: transformers`` and without the
  base model, before uploading; PEFT's card update runs again on it, so the Hub gets PEFT's metadata) write the
  objectives and the loading instructions of the adapter stored in each folder, replacing what an earlier save
  wrote.
  These are cosmetic: if an upstream version drops either method, a warning is issued and the card is left as is,
  so ``import peft_panacea`` never fails because of them.

The ``PANACEA`` enum member itself is added in ``_peft_type`` (through ``compat.peft_compat``), because the config
module needs it before this module can import the config.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from typing import Any

from peft import PeftModel
from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING
from peft.utils.peft_types import register_peft_method
from transformers.integrations.peft import PeftAdapterMixin

from ..compat.transformers_compat import UPLOAD_MODIFIED_FILES, optional_method
from ._peft_type import PANACEA
from .config import PanaceaConfig
from .loading import wrap_peft_from_pretrained, wrap_peft_load_adapter, wrap_transformers_load_adapter
from .model import PanaceaModel
from .model_card import write_card_section

PATCHED = "_peft_panacea_patched"
CARD_WRITER = "create_or_update_model_card"


def _is_panacea(model: PeftModel) -> bool:
    return getattr(model, "peft_type", None) == PANACEA


def _wrap_init(init: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(init)
    def __init__(self: PeftModel, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if _is_panacea(self):
            self.special_peft_forward_args = {*self.special_peft_forward_args, "preference"}

    setattr(__init__, PATCHED, True)
    return __init__


def _panacea_configs(model: PeftModel, names: list[str] | None = None) -> dict[str, PanaceaConfig]:
    configs = {name: model.peft_config[name] for name in (names or model.peft_config)}
    return {name: config for name, config in configs.items() if isinstance(config, PanaceaConfig)}


def _write_root_section(model: PeftModel, directory: str) -> None:
    """The root folder holds the adapter named "default" (PEFT saves the others in sub-folders)."""
    config = _panacea_configs(model).get("default")
    if config is not None:
        write_card_section(directory, config)


def _update_card(model: PeftModel, directory: str) -> None:
    """Give ``directory``'s README PEFT's metadata (through PEFT's card update, itself patched to write the Panacea
    section after it) or, where PEFT lacks that method, the Panacea section alone."""
    update = getattr(model, CARD_WRITER, None)
    if getattr(update, PATCHED, False):
        update(directory)
    else:
        _write_root_section(model, directory)


CardStep = Callable[[PeftModel, str], None]
# Each card-writing method, with what to do to the README in its directory (before it runs, after it runs): PEFT
# fills its standard template only when no README exists yet, so the section goes in after PEFT's card is written.
CARD_METHODS: dict[str, tuple[CardStep | None, CardStep | None]] = {
    CARD_WRITER: (None, _write_root_section),
    UPLOAD_MODIFIED_FILES: (_update_card, None),
}


def _wrap_with_card(method: Callable[..., Any], before: CardStep | None, after: CardStep | None) -> Callable[..., Any]:
    """Run ``before(self, directory)``, ``method(self, directory, ...)``, ``after(self, directory)`` for Panacea
    models, ``method`` alone for others."""

    @functools.wraps(method)
    def wrapper(self: PeftModel, directory: str, *args: Any, **kwargs: Any) -> Any:
        if not _is_panacea(self):
            return method(self, directory, *args, **kwargs)
        if before is not None:
            before(self, directory)
        result = method(self, directory, *args, **kwargs)
        if after is not None:
            after(self, directory)
        return result

    setattr(wrapper, PATCHED, True)
    return wrapper


def _wrap_save_pretrained(save_pretrained: Callable[..., Any]) -> Callable[..., Any]:
    """``save_pretrained`` that also writes the card of each Panacea adapter saved in a sub-folder."""

    signature = inspect.signature(save_pretrained)

    @functools.wraps(save_pretrained)
    def wrapper(self: PeftModel, *args: Any, **kwargs: Any) -> Any:
        result = save_pretrained(self, *args, **kwargs)
        call = signature.bind(self, *args, **kwargs).arguments
        if call.get("is_main_process", True):
            for name, config in _panacea_configs(self, call.get("selected_adapters")).items():
                if name != "default":
                    write_card_section(os.path.join(call["save_directory"], name), config)
        return result

    setattr(wrapper, PATCHED, True)
    return wrapper


def patch_model_card(cls: type) -> None:
    """Wrap ``cls``'s card-writing methods; a missing one is skipped with a warning (the card is cosmetic)."""
    for name, steps in CARD_METHODS.items():
        method = optional_method(cls, name, "the Panacea section of the model card")
        if method is not None and not getattr(method, PATCHED, False):
            setattr(cls, name, _wrap_with_card(method, *steps))
    save_pretrained = getattr(cls, "save_pretrained", None)
    if save_pretrained is not None and not getattr(save_pretrained, PATCHED, False):
        cls.save_pretrained = _wrap_save_pretrained(save_pretrained)


def register() -> None:
    """Make PEFT and transformers treat ``PANACEA`` like a built-in adapter type."""
    if PANACEA not in PEFT_TYPE_TO_CONFIG_MAPPING:
        register_peft_method(name="panacea", config_cls=PanaceaConfig, model_cls=PanaceaModel, prefix="panacea_")
    if not getattr(PeftModel.__init__, PATCHED, False):
        PeftModel.__init__ = _wrap_init(PeftModel.__init__)
    patch_loaders()
    patch_model_card(PeftModel)


def _mark(function: Callable[..., Any]) -> Callable[..., Any]:
    setattr(function, PATCHED, True)
    return function


def patch_loaders() -> None:
    """Route PEFT's and transformers' adapter loaders through the Panacea load checks (idempotent)."""
    if not getattr(PeftModel.from_pretrained, PATCHED, False):
        wrapper = wrap_peft_from_pretrained(PeftModel.__dict__["from_pretrained"].__func__)
        _mark(wrapper.__func__)
        PeftModel.from_pretrained = wrapper
    if not getattr(PeftModel.load_adapter, PATCHED, False):
        PeftModel.load_adapter = _mark(wrap_peft_load_adapter(PeftModel.load_adapter))
    if not getattr(PeftAdapterMixin.load_adapter, PATCHED, False):
        PeftAdapterMixin.load_adapter = _mark(wrap_transformers_load_adapter(PeftAdapterMixin.load_adapter))
