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


OBJECTIVE = "objective"


def objectives_as_indices(dataset: Any, config: Any, name: str = "dataset") -> Any:
    """Check the SFT ``objective`` column and map names (from ``preference_names``) to indices."""
    if dataset is None or getattr(dataset, "column_names", None) is None:
        return dataset
    if isinstance(dataset, dict):
        return {key: objectives_as_indices(split, config, f"{name}['{key}']") for key, split in dataset.items()}
    if OBJECTIVE not in dataset.column_names:
        raise ValueError(
            f"{name} has no `{OBJECTIVE}` column (columns: {dataset.column_names}). Add the index "
            f"(0..{config.pref_dim - 1}) or name ({config.objective_names}) of the objective whose style each "
            "completion shows."
        )
    names = config.objective_names
    indices = []
    for row, value in enumerate(dataset[OBJECTIVE]):
        if isinstance(value, str):
            if value not in names:
                raise ValueError(f"{name} row {row}: `{OBJECTIVE}` = {value!r} is not one of the objectives {names}.")
            value = names.index(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < config.pref_dim:
            raise ValueError(
                f"{name} row {row}: `{OBJECTIVE}` = {value!r} must be an index in [0, {config.pref_dim - 1}] or a "
                f"name in {names}."
            )
        indices.append(value)
    return dataset.remove_columns(OBJECTIVE).add_column(OBJECTIVE, indices)
