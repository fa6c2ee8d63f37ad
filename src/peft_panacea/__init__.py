"""peft-panacea: Panacea (Pareto alignment via preference adaptation) as a PEFT adapter type.

Importing this package registers the ``PANACEA`` adapter type with PEFT; it must happen before any PEFT call that
loads a Panacea adapter. The tuner needs only the base dependencies; the trainers (``[train]`` extra) and the
evaluation (``[eval]`` extra) load on first use, so ``import peft_panacea`` works without TRL or matplotlib.
"""

import importlib

from .tuner import (
    PanaceaConfig,
    PanaceaLayer,
    PanaceaLinear,
    PanaceaModel,
    PreferenceState,
    register,
    set_preference,
    validate_preference,
)

# Names exported lazily, by the subpackage that defines them: importing it needs that layer's extra.
_LAZY = {
    **dict.fromkeys(
        [
            "PanaceaDPOConfig",
            "PanaceaDPOTrainer",
            "PanaceaGRPOConfig",
            "PanaceaGRPOTrainer",
            "PanaceaRLOOConfig",
            "PanaceaRLOOTrainer",
            "PanaceaSFTConfig",
            "PanaceaSFTTrainer",
        ],
        "trainer",
    ),
    **dict.fromkeys(["FrontResult", "evaluate_front", "evaluate_policies"], "evaluation"),
}


def __getattr__(name: str):
    """PEP 562: ``from peft_panacea import PanaceaDPOTrainer`` imports the trainers (TRL) on first use only, so
    ``import peft_panacea`` needs the base install; a missing extra raises an ImportError naming it."""
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'peft_panacea' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    *sorted(_LAZY),
    "PanaceaConfig",
    "PanaceaLayer",
    "PanaceaLinear",
    "PanaceaModel",
    "PreferenceState",
    "register",
    "set_preference",
    "validate_preference",
    "__version__",
]
