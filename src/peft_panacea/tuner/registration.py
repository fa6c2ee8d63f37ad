"""Registers Panacea with PEFT when ``peft_panacea`` is imported (idempotent): the one module that patches PEFT.

Two small extensions of ``PeftModel`` are needed because PEFT has no plugin hooks for them; both act only on
models whose adapter type is PANACEA:

* ``preference`` joins ``special_peft_forward_args``, so ``model(..., preference=p)`` and ``model.generate(...,
  preference=p)`` consume it instead of passing it to the transformers model;
* ``create_or_update_model_card`` (save_pretrained, after PEFT has written its standard card) and
  ``_upload_modified_files`` (push_to_hub, which replaces the saved README.md with the Hub's card before uploading)
  append the objectives and the loading instructions.
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

from ..compat.transformers_compat import UPLOAD_MODIFIED_FILES, optional_method
from ._peft_type import PANACEA
from .config import PanaceaConfig
from .model import PanaceaModel
from .model_card import SECTION_HEADING, panacea_card_section

PATCHED = "_peft_panacea_patched"
CARD_WRITER = "create_or_update_model_card"
CARD_METHODS = (CARD_WRITER, UPLOAD_MODIFIED_FILES)


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


def _wrap_with_card(method: Callable[..., Any], *, after: bool) -> Callable[..., Any]:
    """Add the Panacea card section to ``directory``'s README around ``method(self, directory, ...)``: after it when
    it writes the card (PEFT fills its standard template only when no README exists yet), before it when it uploads.
    """

    @functools.wraps(method)
    def wrapper(self: PeftModel, directory: str, *args: Any, **kwargs: Any) -> Any:
        if not _is_panacea(self):
            return method(self, directory, *args, **kwargs)
        if not after:
            _append_card_section(self, directory)
        result = method(self, directory, *args, **kwargs)
        if after:
            _append_card_section(self, directory)
        return result

    setattr(wrapper, PATCHED, True)
    return wrapper


def patch_model_card(cls: type) -> None:
    """Wrap ``cls``'s card-writing methods; a missing one is skipped with a warning (the card is cosmetic)."""
    for name in CARD_METHODS:
        method = optional_method(cls, name, "the Panacea section of the model card")
        if method is not None and not getattr(method, PATCHED, False):
            setattr(cls, name, _wrap_with_card(method, after=name == CARD_WRITER))


def register() -> None:
    """Make PEFT and transformers treat ``PANACEA`` like a built-in adapter type."""
    if PANACEA not in PEFT_TYPE_TO_CONFIG_MAPPING:
        register_peft_method(name="panacea", config_cls=PanaceaConfig, model_cls=PanaceaModel, prefix="panacea_")
    if not getattr(PeftModel.__init__, PATCHED, False):
        PeftModel.__init__ = _wrap_init(PeftModel.__init__)
    patch_model_card(PeftModel)
