"""Convert public multi-objective preference datasets to TRL's preference format plus ``preference_labels``.

Each converter takes a ``datasets.Dataset`` in the original schema and returns rows ``prompt``, ``chosen``,
``rejected``, ``preference_labels`` (one value per objective: +1 chosen better, -1 rejected better, 0 unknown or tie).
The objective order is returned as well, to pass on as ``PanaceaConfig(preference_names=...)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from datasets import Dataset

PKU_OBJECTIVES = ("helpful", "harmless")
HELPSTEER2_ATTRIBUTES = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")
ULTRAFEEDBACK_ASPECTS = ("helpfulness", "honesty", "instruction_following", "truthfulness")


def _require_columns(dataset: Dataset, columns: Iterable[str], source: str) -> None:
    missing = [c for c in columns if c not in dataset.column_names]
    if missing:
        raise ValueError(
            f"{source}: missing column(s) {missing}; found {dataset.column_names}. Is this the {source} schema?"
        )


def _text(example: dict[str, Any], key: str, index: int, source: str) -> str:
    """A prompt or response of the source row: it must be a string, or the pair would carry a None into training."""
    value = example[key]
    if not isinstance(value, str):
        raise ValueError(f"{source} row {index}: `{key}` = {value!r} must be a string.")
    return value


def _response_id(example: dict[str, Any], key: str, index: int) -> int:
    """0 or 1; also as the float 0.0 / 1.0 a pandas column with missing values is read as."""
    value = example[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value not in (0, 1):
        raise ValueError(f"PKU-SafeRLHF row {index}: `{key}` = {value!r} must be 0 or 1.")
    return int(value)


def _sign(difference: float) -> int:
    return (difference > 0) - (difference < 0)


def _row(prompt: str, chosen: str, rejected: str, labels: Sequence[int]) -> dict[str, Any]:
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected, "preference_labels": list(labels)}


def from_pku_saferlhf(dataset: Dataset) -> tuple[Dataset, list[str]]:
    """PKU-SafeRLHF / BeaverTails pairs (``response_0``, ``response_1``, ``better_response_id``,
    ``safer_response_id``) to objectives (helpful, harmless): ``chosen`` is the more helpful response."""
    columns = ("prompt", "response_0", "response_1", "better_response_id", "safer_response_id")
    _require_columns(dataset, columns, "PKU-SafeRLHF")
    rows = []
    for index, example in enumerate(dataset):
        prompt, *responses = (_text(example, key, index, "PKU-SafeRLHF") for key in columns[:3])
        better = _response_id(example, "better_response_id", index)
        harmless = 1 if _response_id(example, "safer_response_id", index) == better else -1
        rows.append(_row(prompt, responses[better], responses[1 - better], (1, harmless)))
    return Dataset.from_list(rows), list(PKU_OBJECTIVES)


def _scores(example: dict[str, Any], keys: Sequence[str], index: int, source: str, low: float, high: float) -> list:
    scores = []
    for key in keys:
        value = example[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"{source} row {index}: `{key}` = {value!r} must be a number in [{low}, {high}].")
        scores.append(value)
    return scores


def from_helpsteer2(dataset: Dataset, attributes: Sequence[str] = HELPSTEER2_ATTRIBUTES) -> tuple[Dataset, list[str]]:
    """HelpSteer2 (one row per response, attribute scores 0-4) to pairs: every two responses to the same prompt
    form a pair, labelled per attribute by which scores higher (0 on ties); pairs tied on every attribute are
    dropped."""
    _require_columns(dataset, ("prompt", "response", *attributes), "HelpSteer2")
    by_prompt: dict[str, list[tuple[str, list]]] = {}
    for index, example in enumerate(dataset):
        scores = _scores(example, attributes, index, "HelpSteer2", 0, 4)
        prompt, response = (_text(example, key, index, "HelpSteer2") for key in ("prompt", "response"))
        by_prompt.setdefault(prompt, []).append((response, scores))
    rows = []
    for prompt, responses in by_prompt.items():
        for (first, first_scores), (second, second_scores) in itertools.combinations(responses, 2):
            labels = [_sign(a - b) for a, b in zip(first_scores, second_scores, strict=True)]
            if any(labels):
                rows.append(_row(prompt, first, second, labels))
    return Dataset.from_list(rows), list(attributes)


def _ultrafeedback_rating(completion: dict[str, Any], aspect: str, index: int) -> float | None:
    try:
        rating = completion["annotations"][aspect]["Rating"]
    except (KeyError, TypeError) as err:
        raise ValueError(
            f"UltraFeedback row {index}: a completion has no `annotations.{aspect}.Rating`; is this the "
            "fine-grained (openbmb/UltraFeedback) schema?"
        ) from err
    if rating in ("N/A", None):
        return None
    try:
        value = float(rating)
    except (TypeError, ValueError) as err:
        raise ValueError(f"UltraFeedback row {index}: `{aspect}` rating {rating!r} is not a number or 'N/A'.") from err
    if not 1 <= value <= 5:
        raise ValueError(f"UltraFeedback row {index}: `{aspect}` rating {rating!r} is outside 1-5.")
    return value


def from_ultrafeedback(dataset: Dataset, aspects: Sequence[str] = ULTRAFEEDBACK_ASPECTS) -> tuple[Dataset, list[str]]:
    """UltraFeedback fine-grained ratings (``instruction``, ``completions[*].annotations.<aspect>.Rating``) to
    pairs of completions, labelled per aspect by the higher rating; 'N/A' gives 0 (unknown)."""
    _require_columns(dataset, ("instruction", "completions"), "UltraFeedback")
    rows = []
    for index, example in enumerate(dataset):
        prompt = _text(example, "instruction", index, "UltraFeedback")
        completions = [
            (
                _text(c, "response", index, "UltraFeedback"),
                [_ultrafeedback_rating(c, aspect, index) for aspect in aspects],
            )
            for c in example["completions"]
        ]
        for (first, first_scores), (second, second_scores) in itertools.combinations(completions, 2):
            labels = [
                0 if a is None or b is None else _sign(a - b) for a, b in zip(first_scores, second_scores, strict=True)
            ]
            if any(labels):
                rows.append(_row(prompt, first, second, labels))
    return Dataset.from_list(rows), list(aspects)
