"""Checks of the per-row Panacea columns (DPO ``preference_labels``, SFT ``objective``).

One parser per column checks a single value and says what is wrong with it; a map-style dataset is checked row by
row before training, and every batch goes through the same parser in the collator (``WithColumns``), which is the
only place the rows of a streamed (iterable) dataset are ever seen.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from datasets import IterableDataset

from ..tuner.preference import validate_preference

LABELS = "preference_labels"
OBJECTIVE = "objective"
PREFERENCE = "preference"
_ALLOWED = {-1, 0, 1}


def is_stream(dataset: Any) -> bool:
    """Whether ``dataset`` is iterable-only: its rows are checked as they are batched, never read up front."""
    return isinstance(dataset, (IterableDataset, torch.utils.data.IterableDataset))


def parse_preference_labels(labels: Any, pref_dim: int) -> list[int]:
    """``labels`` as ``pref_dim`` values in {-1, 0, 1}, or a ``ValueError`` saying what is wrong with them."""
    if isinstance(labels, (str, bytes, Mapping)) or not isinstance(labels, Iterable):
        raise ValueError(
            f"`{LABELS}` = {labels!r} must be a list of {pref_dim} values, one per objective (+1 when `chosen` is "
            "better on it, -1 when `rejected` is, 0 when unknown)."
        )
    values = labels.tolist() if hasattr(labels, "tolist") else list(labels)  # numpy / torch rows as numbers
    if len(values) != pref_dim:
        raise ValueError(f"`{LABELS}` = {values!r} must have {pref_dim} values (the adapter's pref_dim).")
    bad = [value for value in values if isinstance(value, bool) or value not in _ALLOWED]
    if bad:
        raise ValueError(f"`{LABELS}` = {values!r} has values {bad} outside {{-1, 0, 1}}.")
    return [int(value) for value in values]


def parse_objective(value: Any, names: Sequence[str]) -> int:
    """The index of an SFT row's objective, given as an index or a name from ``names``."""
    if isinstance(value, str):
        if value not in names:
            raise ValueError(f"`{OBJECTIVE}` = {value!r} is not one of the objectives {list(names)}.")
        return list(names).index(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(names):
        raise ValueError(
            f"`{OBJECTIVE}` = {value!r} must be an index in [0, {len(names) - 1}] or a name in {list(names)}."
        )
    return value


def _require_column(dataset: Any, column: str, name: str, fix: str) -> bool:
    """Raise if ``dataset`` lists its columns and ``column`` is not one; False when there is nothing to check."""
    if dataset is None:
        return False
    columns = getattr(dataset, "column_names", None)
    if columns is not None and column not in columns:
        raise ValueError(f"{name} has no `{column}` column (columns: {columns}). {fix}")
    return columns is not None and not is_stream(dataset)


def _splits(dataset: Any, name: str) -> list[tuple[Any, str]]:
    if isinstance(dataset, dict):
        return [(split, f"{name}['{key}']") for key, split in dataset.items()]
    return [(dataset, name)]


def check_not_empty(dataset: Any, name: str = "dataset") -> None:
    """Refuse a map-style dataset (or split) without rows, which would otherwise fail deep inside the trainer."""
    for split, split_name in _splits(dataset, name):
        if split is not None and not is_stream(split) and hasattr(split, "__len__") and len(split) == 0:
            raise ValueError(f"{split_name} has no rows; pass a dataset with at least one example.")


def _require_pair_columns(dataset: Any, name: str) -> None:
    """TRL's DPO needs the two completions of a pair, raw (``chosen``) or tokenized (``chosen_ids``, ...)."""
    columns = getattr(dataset, "column_names", None)
    for side in ("chosen", "rejected"):
        if columns is not None and not any(column.startswith(side) for column in columns):
            raise ValueError(
                f"{name} has no `{side}` column (columns: {columns}). A DPO pair needs `prompt`, `chosen` and "
                f"`rejected`; or use a converter from peft_panacea.converters."
            )


def check_dpo_dataset(dataset: Any, pref_dim: int, name: str = "dataset") -> None:
    """Raise ``ValueError`` naming the column and row when a DPO dataset is empty, lacks a completion column, or
    when ``preference_labels`` is missing or malformed.

    Each row needs ``pref_dim`` labels in {-1, 0, 1}: +1 chosen better on that objective, -1 rejected better,
    0 unknown. A dataset whose rows are all unlabelled is refused (its loss would be exactly 0); some unlabelled
    rows give a warning. A streamed dataset is only checked for its columns here: its rows are checked by the
    collator as they are batched.
    """
    fix = (
        f"Add one with {pref_dim} values per row: +1 when `chosen` is better on that objective, -1 when `rejected` "
        "is, 0 when unknown; or use a converter from peft_panacea.converters."
    )
    check_not_empty(dataset, name)
    for split, split_name in _splits(dataset, name):
        if split is not None:
            _require_pair_columns(split, split_name)
        if not _require_column(split, LABELS, split_name, fix):
            continue
        unlabelled = 0
        for row, labels in enumerate(split[LABELS]):
            try:
                unlabelled += not any(parse_preference_labels(labels, pref_dim))
            except ValueError as err:
                raise ValueError(f"{split_name} row {row}: {err}") from None
        if unlabelled and unlabelled == len(split):
            raise ValueError(
                f"Every row of {split_name} has `{LABELS}` all 0 (unknown on every objective): the loss would be "
                "exactly 0 and training would learn nothing. Label each pair +1/-1 on at least one objective."
            )
        if unlabelled:
            warnings.warn(
                f"{unlabelled} of {len(split)} rows of {split_name} have `{LABELS}` all 0; they add nothing to the "
                "loss.",
                stacklevel=3,
            )


def objectives_as_indices(dataset: Any, names: Sequence[str], name: str = "dataset") -> Any:
    """Check the SFT ``objective`` column and map names to indices (a streamed dataset: the collator does both)."""
    check_not_empty(dataset, name)
    if isinstance(dataset, dict):
        return {key: objectives_as_indices(split, names, f"{name}['{key}']") for key, split in dataset.items()}
    fix = (
        f"Add the index (0..{len(names) - 1}) or name ({list(names)}) of the objective whose style each completion "
        "shows."
    )
    if not _require_column(dataset, OBJECTIVE, name, fix):
        return dataset
    indices = []
    for row, value in enumerate(dataset[OBJECTIVE]):
        try:
            indices.append(parse_objective(value, names))
        except ValueError as err:
            raise ValueError(f"{name} row {row}: {err}") from None
    return dataset.remove_columns(OBJECTIVE).add_column(OBJECTIVE, indices)


def check_preference_column(
    dataset: Any, pref_dim: int, names: Sequence[str] | None, per_group: bool, name: str = "train_dataset"
) -> None:
    """Check an online trainer's optional ``preference`` column in every row before training, not when a row is
    first rolled out; it is only read with per-group preferences, so it is refused otherwise."""
    for split, split_name in _splits(dataset, name):
        columns = getattr(split, "column_names", None)
        if split is None or columns is None or PREFERENCE not in columns:
            continue
        if not per_group:
            raise ValueError(
                f"{split_name} has a `{PREFERENCE}` column, which only preference_granularity='group' reads (one "
                "preference per prompt group); set it, or drop the column to draw preferences per batch."
            )
        if is_stream(split):
            continue
        for row, value in enumerate(split[PREFERENCE]):
            if value is None:
                continue
            try:
                validate_preference(value, pref_dim, names)
            except ValueError as err:
                raise ValueError(f"{split_name} row {row}: {err}") from None
