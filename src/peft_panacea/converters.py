"""The documented import path ``peft_panacea.converters``; the converters live in
:mod:`peft_panacea.trainer.converters` (they produce the data the DPO trainer takes, and need ``datasets``)."""

from .trainer.converters import (
    HELPSTEER2_ATTRIBUTES,
    PKU_OBJECTIVES,
    ULTRAFEEDBACK_ASPECTS,
    from_helpsteer2,
    from_pku_saferlhf,
    from_ultrafeedback,
)

__all__ = [
    "HELPSTEER2_ATTRIBUTES",
    "PKU_OBJECTIVES",
    "ULTRAFEEDBACK_ASPECTS",
    "from_helpsteer2",
    "from_pku_saferlhf",
    "from_ultrafeedback",
]
