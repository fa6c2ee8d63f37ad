"""Registers Panacea with PEFT when ``peft_panacea`` is imported (idempotent): the one module that patches PEFT.

Two small extensions of ``PeftModel`` are needed because PEFT has no plugin hooks for them; both act only on
models whose adapter type is PANACEA:

* ``preference`` joins ``special_peft_forward_args``, so ``model(..., preference=p)`` and ``model.generate(...,
  preference=p)`` consume it instead of passing it to the transformers model;
* ``from_pretrained`` / ``load_adapter`` (and transformers' ``PeftAdapterMixin.load_adapter``) run the load-time
  checks on every path and take a half-built adapter back out when a load fails (see ``loading``);
* ``create_or_update_model_card`` (save_pretrained) and ``_upload_modified_files`` (push_to_hub, which replaces
  the saved README.md with the Hub's card before uploading) append the objectives and the loading instructions.
  These are cosmetic: if an upstream version drops either method, a warning is issued and the card is left as is,
  so ``import peft_panacea`` never fails because of them.

The ``PANACEA`` enum member itself is added in ``_peft_type`` (through ``compat.peft_compat``), because the config
module needs it before this module can import the config.
"""

from __future__ import annotations

import functools
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
from .model_card import SECTION_HEADING, panacea_card_section

PATCHED = "_peft_panacea_patched"
CARD_METHODS = ("create_or_update_model_card", UPLOAD_MODIFIED_FILES)


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


def _append_card_section(model: PeftModel, directory: str) -> None:
    path = os.path.join(directory, "README.md")
    text = "---\nlibrary_name: peft\n---\n"  # a new card starts with the metadata block PEFT expects
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    if SECTION_HEADING not in text:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text + "\n" + panacea_card_section(model.peft_config[model.active_adapter]))


def _wrap_with_card(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``method(self, directory, ...)`` after adding the Panacea card section to ``directory``'s README."""

    @functools.wraps(method)
    def wrapper(self: PeftModel, directory: str, *args: Any, **kwargs: Any) -> Any:
        if _is_panacea(self):
            _append_card_section(self, directory)
        return method(self, directory, *args, **kwargs)

    setattr(wrapper, PATCHED, True)
    return wrapper


def patch_model_card(cls: type) -> None:
    """Wrap ``cls``'s card-writing methods; a missing one is skipped with a warning (the card is cosmetic)."""
    for name in CARD_METHODS:
        method = optional_method(cls, name, "the Panacea section of the model card")
        if method is not None and not getattr(method, PATCHED, False):
            setattr(cls, name, _wrap_with_card(method))


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
