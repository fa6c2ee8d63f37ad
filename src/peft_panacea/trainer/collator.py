"""A collator wrapper that carries per-row Panacea columns next to what TRL's collators produce."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


class WithColumns:
    """Calls ``collator`` and adds each of ``columns`` (name -> dtype) as a tensor stacked over the rows.

    Every value first goes through ``parse(name, value)``, which returns it checked (and converted, e.g. an
    objective name to its index) or raises ``ValueError``: rows of a streamed dataset are seen nowhere else, so this
    is where they are validated, before TRL's collator and the loss see them.
    """

    def __init__(
        self,
        collator: Callable[[list[dict[str, Any]]], dict[str, Any]],
        columns: dict[str, torch.dtype],
        parse: Callable[[str, Any], Any],
    ):
        self.collator = collator
        self.columns = columns
        self.parse = parse

    def _column(self, examples: list[dict[str, Any]], name: str) -> list[Any]:
        values = []
        for row, example in enumerate(examples):
            if name not in example:
                raise ValueError(
                    f"Row {row} of a batch has no `{name}` (keys: {sorted(example)}); every row needs one."
                )
            try:
                values.append(self.parse(name, example[name]))
            except ValueError as err:
                raise ValueError(f"Row {row} of a batch: {err}") from None
        return values

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        columns = {name: self._column(examples, name) for name in self.columns}
        batch = self.collator(examples)
        for name, dtype in self.columns.items():
            batch[name] = torch.tensor(columns[name], dtype=dtype)
        return batch
