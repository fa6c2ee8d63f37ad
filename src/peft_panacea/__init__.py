"""peft-panacea: Panacea (Pareto alignment via preference adaptation) as a PEFT adapter type.

Importing this package registers the ``PANACEA`` adapter type with PEFT; it must happen before any PEFT call that
loads a Panacea adapter.
"""

from .config import PanaceaConfig
from .layer import PanaceaLayer, PanaceaLinear
from .model import PanaceaModel, set_preference
from .preference import PreferenceState, validate_preference
from .registration import register

register()

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
    "set_preference",
    "validate_preference",
    "__version__",
]
