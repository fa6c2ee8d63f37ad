"""The PEFT tuner: a Panacea SVD-LoRA adapter type that PEFT and transformers treat like a built-in one.

Importing this package registers the ``PANACEA`` adapter type with PEFT. It depends on torch, peft, transformers
and safetensors only; nothing here imports the trainers, the evaluation or the demo.
"""

from .config import PanaceaConfig
from .layer import PanaceaLayer, PanaceaLinear
from .model import PanaceaModel, set_preference
from .preference import PreferenceState, validate_preference
from .registration import register

register()

__all__ = [
    "PanaceaConfig",
    "PanaceaLayer",
    "PanaceaLinear",
    "PanaceaModel",
    "PreferenceState",
    "register",
    "set_preference",
    "validate_preference",
]
