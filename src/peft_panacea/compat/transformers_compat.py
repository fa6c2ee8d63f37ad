"""transformers 5.23 internals used by the tuner's model-card patch and by the trainers, and the helper that
reaches the optional one."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from . import Hook

UPLOAD_MODIFIED_FILES = "_upload_modified_files"

HOOKS: tuple[Hook, ...] = (
    Hook(
        "transformers.utils.hub.PushToHubMixin",
        UPLOAD_MODIFIED_FILES,
        "registration (cosmetic): push_to_hub replaces README.md with the Hub's card; re-add the Panacea section",
        ("self", "working_dir", "repo_id", "files_timestamps"),
    ),
    Hook(
        "transformers.Trainer",
        "_set_signature_columns_if_needed",
        "trainer core: keep the Panacea columns through remove_unused_columns",
        ("self",),
    ),
    Hook("transformers.Trainer", "_signature_columns", "trainer core: the kept columns", instance_attribute=True),
    Hook(
        "transformers.Trainer",
        "current_gradient_accumulation_steps",
        "online trainers: scale the orthogonality penalty like the GRPO loss",
        instance_attribute=True,
    ),
    Hook("transformers.Trainer", "loss_is_scaled_for_ga", "trainer core: Trainer divides the loss by GA steps"),
    Hook("transformers.pytorch_utils", "Conv1D", "tuner: detect GPT-2's (in, out) weight layout"),
    Hook(
        "transformers.integrations.peft.PeftAdapterMixin",
        "load_adapter",
        "loading (wrapped): the Panacea load checks and the clean-up of a failed load on transformers' path",
        ("self", "peft_model_id", "adapter_name", "peft_config", "adapter_state_dict"),
    ),
)


def optional_method(cls: type, name: str, purpose: str) -> Callable[..., Any] | None:
    """``cls.<name>``, or ``None`` with a warning when it is gone: for cosmetic patches, which must never make
    ``import peft_panacea`` fail after an upstream rename."""
    method = getattr(cls, name, None)
    if method is None:
        warnings.warn(
            f"{cls.__name__}.{name} is missing in this transformers/peft version; skipping {purpose}.", stacklevel=2
        )
    return method
