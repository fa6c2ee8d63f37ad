"""The one folder where peft_panacea caches what it builds or converts (``$PEFT_PANACEA_CACHE``)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "PEFT_PANACEA_CACHE"


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "peft_panacea")
