"""Registers Panacea with PEFT when ``peft_panacea`` is imported (idempotent).

Two small extensions of ``PeftModel`` are needed because PEFT has no plugin hooks for them; both act only on
models whose adapter type is PANACEA:

* ``preference`` joins ``special_peft_forward_args``, so ``model(..., preference=p)`` and ``model.generate(...,
  preference=p)`` consume it instead of passing it to the transformers model;
* ``create_or_update_model_card`` appends the objectives and the loading instructions to the saved README.md.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable

from peft import PeftModel
from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING
from peft.utils.peft_types import register_peft_method

from ._peft_type import PANACEA
from .config import PanaceaConfig
from .model import PanaceaModel
from .model_card import SECTION_HEADING, panacea_card_section

_PATCHED = "_peft_panacea_patched"


def _is_panacea(model: PeftModel) -> bool:
    return getattr(model, "peft_type", None) == PANACEA


def _wrap_init(init: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(init)
    def __init__(self: PeftModel, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if _is_panacea(self):
            self.special_peft_forward_args = {*self.special_peft_forward_args, "preference"}

    setattr(__init__, _PATCHED, True)
    return __init__


def _wrap_model_card(create: Callable[[PeftModel, str], None]) -> Callable[[PeftModel, str], None]:
    @functools.wraps(create)
    def create_or_update_model_card(self: PeftModel, output_dir: str) -> None:
        create(self, output_dir)
        if not _is_panacea(self):
            return
        path = os.path.join(output_dir, "README.md")
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        if SECTION_HEADING not in text:
            config = self.peft_config[self.active_adapter]
            with open(path, "a", encoding="utf-8") as handle:
                handle.write("\n" + panacea_card_section(config))

    setattr(create_or_update_model_card, _PATCHED, True)
    return create_or_update_model_card


def register() -> None:
    """Make PEFT and transformers treat ``PANACEA`` like a built-in adapter type."""
    if PANACEA not in PEFT_TYPE_TO_CONFIG_MAPPING:
        register_peft_method(name="panacea", config_cls=PanaceaConfig, model_cls=PanaceaModel, prefix="panacea_")
    if not getattr(PeftModel.__init__, _PATCHED, False):
        PeftModel.__init__ = _wrap_init(PeftModel.__init__)
    if not getattr(PeftModel.create_or_update_model_card, _PATCHED, False):
        PeftModel.create_or_update_model_card = _wrap_model_card(PeftModel.create_or_update_model_card)
