"""Registers Panacea with PEFT when ``peft_panacea`` is imported (idempotent): the one module that patches PEFT.

Two small extensions of ``PeftModel`` are needed because PEFT has no plugin hooks for them; both act only on
models whose adapter type is PANACEA:

* ``preference`` joins ``special_peft_forward_args``, so ``model(..., preference=p)`` and ``model.generate(...,
  preference=p)`` consume it instead of passing it to the transformers model;
* ``create_or_update_model_card`` (save_pretrained) appends the objectives and the loading instructions after PEFT
  has written its standard card, and ``_upload_modified_files`` (push_to_hub, which replaces the saved README.md
  with the Hub's card, marked ``library_name: transformers`` and without the base model, before uploading) runs it
  again on that card, so the Hub sees what ``save_pretrained`` writes: PEFT's metadata and the Panacea section.
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


def _update_card(model: PeftModel, directory: str) -> None:
    """Give ``directory``'s README PEFT's metadata (through PEFT's card update, itself patched to add the Panacea
    section after it) or, where PEFT lacks that method, the Panacea section alone."""
    update = getattr(model, CARD_WRITER, None)
    if getattr(update, PATCHED, False):
        update(directory)
    else:
        _append_card_section(model, directory)


CardStep = Callable[[PeftModel, str], None]
# Each card-writing method, with what to do to the README in its directory (before it runs, after it runs): PEFT
# fills its standard template only when no README exists yet, so the section goes in after PEFT's card is written.
CARD_METHODS: dict[str, tuple[CardStep | None, CardStep | None]] = {
    CARD_WRITER: (None, _append_card_section),
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


def patch_model_card(cls: type) -> None:
    """Wrap ``cls``'s card-writing methods; a missing one is skipped with a warning (the card is cosmetic)."""
    for name, steps in CARD_METHODS.items():
        method = optional_method(cls, name, "the Panacea section of the model card")
        if method is not None and not getattr(method, PATCHED, False):
            setattr(cls, name, _wrap_with_card(method, *steps))


def register() -> None:
    """Make PEFT and transformers treat ``PANACEA`` like a built-in adapter type."""
    if PANACEA not in PEFT_TYPE_TO_CONFIG_MAPPING:
        register_peft_method(name="panacea", config_cls=PanaceaConfig, model_cls=PanaceaModel, prefix="panacea_")
    if not getattr(PeftModel.__init__, PATCHED, False):
        PeftModel.__init__ = _wrap_init(PeftModel.__init__)
    patch_model_card(PeftModel)
