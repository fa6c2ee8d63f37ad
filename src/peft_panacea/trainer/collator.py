"""A collator wrapper that carries per-row Panacea columns next to what TRL's collators produce."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


class WithColumns:
    """Calls ``collator`` and adds each of ``columns`` (name -> dtype) as a tensor stacked over the rows."""

    def __init__(self, collator: Callable[[list[dict[str, Any]]], dict[str, Any]], columns: dict[str, torch.dtype]):
        self.collator = collator
        self.columns = columns

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.collator(examples)
        for name, dtype in self.columns.items():
            batch[name] = torch.tensor([example[name] for example in examples], dtype=dtype)
        return batch
