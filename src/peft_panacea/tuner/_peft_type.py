"""The ``PANACEA`` member of PEFT's ``PeftType`` enum, created on import (see ``compat.peft_compat``).

Kept apart from ``registration`` because ``config`` needs the member to set ``peft_type`` and ``registration``
imports ``config``.
"""

from __future__ import annotations

from ..compat.peft_compat import ensure_peft_type

PANACEA_NAME = "PANACEA"

PANACEA = ensure_peft_type(PANACEA_NAME)
