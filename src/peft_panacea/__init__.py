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

__version__ = "0.1.0"

__all__ = [
    "PanaceaConfig",
    "PanaceaLayer",
    "PanaceaLinear",
    "PanaceaModel",
    "PreferenceState",
    "set_preference",
    "validate_preference",
    "__version__",
]
