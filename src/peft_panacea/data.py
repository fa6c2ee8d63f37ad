"""Checks and converters for multi-objective preference data (TRL's prompt/chosen/rejected + preference_labels)."""

from __future__ import annotations

from typing import Any

LABELS = "preference_labels"
_ALLOWED = {-1, 0, 1}


def check_preference_labels(dataset: Any, pref_dim: int, name: str = "dataset") -> None:
    """Raise ``ValueError`` naming the column and row when ``preference_labels`` is missing or malformed.

    Each row needs ``pref_dim`` labels in {-1, 0, 1}: +1 chosen better on that objective, -1 rejected better,
    0 unknown. ``None`` datasets and dict-of-datasets are handled; iterable datasets are checked lazily by the
    collator instead.
    """
    if dataset is None:
        return
    if isinstance(dataset, dict):
        for key, split in dataset.items():
            check_preference_labels(split, pref_dim, f"{name}['{key}']")
        return
    columns = getattr(dataset, "column_names", None)
    if columns is None:
        return
    if LABELS not in columns:
        raise ValueError(
            f"{name} has no `{LABELS}` column (columns: {columns}). Add one with {pref_dim} values per row: +1 when "
            "`chosen` is better on that objective, -1 when `rejected` is, 0 when unknown; or use a converter from "
            "peft_panacea.data."
        )
    for row, labels in enumerate(dataset[LABELS]):
        if labels is None or len(labels) != pref_dim:
            raise ValueError(
                f"{name} row {row}: `{LABELS}` = {labels!r} must have {pref_dim} values (the adapter's pref_dim)."
            )
        bad = [value for value in labels if value not in _ALLOWED]
        if bad:
            raise ValueError(f"{name} row {row}: `{LABELS}` = {labels!r} has values {bad} outside {{-1, 0, 1}}.")
