"""peft-panacea: Panacea (Pareto alignment via preference adaptation) as a PEFT adapter type.

Importing this package registers the ``PANACEA`` adapter type with PEFT; it must happen before any PEFT call that
loads a Panacea adapter. The tuner needs only the base dependencies; the trainers (``[train]`` extra) load on first
use, so ``import peft_panacea`` works without TRL.
"""

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

_TRAINERS = {
    "PanaceaDPOConfig",
    "PanaceaDPOTrainer",
    "PanaceaGRPOConfig",
    "PanaceaGRPOTrainer",
    "PanaceaRLOOConfig",
    "PanaceaRLOOTrainer",
    "PanaceaSFTConfig",
    "PanaceaSFTTrainer",
}


def __getattr__(name: str):
    """Trainers load TRL, so they are imported on first use: ``from peft_panacea import PanaceaDPOTrainer``."""
    if name in _TRAINERS:
        from . import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'peft_panacea' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    *sorted(_TRAINERS),
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
