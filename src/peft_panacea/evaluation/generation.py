"""Generate at a grid of preferences and score the completions: the data behind a :class:`FrontResult`.

Generation goes through ``model.generate(preference=...)``, so this module needs no import of the tuner: any
model that accepts a per-row ``preference`` keyword works.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..sampling import preference_grid
from .front import FrontResult, RewardFn


def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _chat_texts(tokenizer: Any, prompts: Sequence[str], chat_template: bool) -> list[str]:
    if not (chat_template and getattr(tokenizer, "chat_template", None)):
        return list(prompts)
    return [
        tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False)
        for p in prompts
    ]


def _generate(model: Any, tokenizer: Any, texts: list[str], rows: torch.Tensor | None, **kwargs: Any) -> list[str]:
    """Greedy (unless told otherwise) completions of ``texts``, with a preference per row when ``rows`` is given."""
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    if rows is not None:
        kwargs["preference"] = rows
    out = model.generate(**batch, pad_token_id=tokenizer.pad_token_id, **kwargs)
    return tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)


def _score(
    prompts: Sequence[str], completions: list[list[str]], reward_fns: Sequence[RewardFn], progress: bool
) -> np.ndarray:
    """(P, n_prompts, m) scores of ``completions[i][j]`` (preference i, prompt j) under each reward function."""
    flat_prompts = [p for _ in completions for p in prompts]
    flat = [c for row in completions for c in row]
    scores = np.zeros((len(completions), len(prompts), len(reward_fns)))
    for k, fn in enumerate(tqdm(reward_fns, desc="scoring", disable=not progress)):
        name = getattr(fn, "__name__", f"reward function {k}")
        raw = fn(prompts=flat_prompts, completions=flat)
        try:
            values = np.asarray(raw, dtype=float)
        except (TypeError, ValueError) as err:
            raise ValueError(f"'{name}' must return one number per completion; got {raw!r:.200}.") from err
        if values.shape != (len(flat),):
            raise ValueError(
                f"'{name}' returned {values.size} scores of shape {values.shape} for {len(flat)} completions; "
                "return one number per completion."
            )
        if not np.isfinite(values).all():
            raise ValueError(
                f"'{name}' returned {int((~np.isfinite(values)).sum())} NaN, None or infinite scores out of "
                f"{len(flat)}: a front needs a finite score for every completion."
            )
        scores[:, :, k] = values.reshape(len(completions), len(prompts))
    return scores


def _check_batch(prompts: Sequence[str], batch_size: int) -> None:
    """Refused before any generation: no prompts, or a batch size that would generate nothing."""
    if not prompts:
        raise ValueError("No prompts to evaluate: pass at least one prompt.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")


def _preferences_and_names(
    reward_fns: Sequence[RewardFn],
    preferences: torch.Tensor | Sequence[Sequence[float]] | None,
    n_points: int,
    objective_names: Sequence[str] | None,
) -> tuple[torch.Tensor, list[str]]:
    m = len(reward_fns)
    prefs = preference_grid(m, n_points) if preferences is None else torch.as_tensor(preferences, dtype=torch.float32)
    if prefs.dim() != 2 or prefs.shape[1] != m:
        raise ValueError(f"preferences must have shape (P, {m}) for {m} reward functions, got {tuple(prefs.shape)}.")
    names = list(objective_names or [getattr(fn, "__name__", f"objective_{i}") for i, fn in enumerate(reward_fns)])
    return prefs, names


@contextmanager
def _left_padding(tokenizer: Any) -> Iterator[None]:
    """Decoder-only generation needs left padding; the caller's tokenizer setting is restored afterwards."""
    previous, tokenizer.padding_side = tokenizer.padding_side, "left"
    try:
        yield
    finally:
        tokenizer.padding_side = previous


@torch.no_grad()
def evaluate_front(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    reward_fns: Sequence[RewardFn],
    preferences: torch.Tensor | Sequence[Sequence[float]] | None = None,
    n_points: int = 11,
    batch_size: int = 16,
    objective_names: Sequence[str] | None = None,
    chat_template: bool = True,
    progress: bool = True,
    **generation_kwargs: Any,
) -> FrontResult:
    """Generate a completion for every (preference, prompt) pair and score it with each reward function.

    Batches mix preferences through the per-sample preference path, so one batch can hold several of them.
    ``preferences`` defaults to ``preference_grid(m, n_points)``; generation is greedy with 32 new tokens unless
    ``generation_kwargs`` say otherwise. Reward functions use TRL's signature (``prompts=``, ``completions=``).
    """
    prefs, names = _preferences_and_names(reward_fns, preferences, n_points, objective_names)
    _check_batch(prompts, batch_size)
    generation_kwargs = {"max_new_tokens": 32, "do_sample": False, **generation_kwargs}
    texts = _chat_texts(tokenizer, prompts, chat_template)
    pairs = [(i, j) for i in range(len(prefs)) for j in range(len(prompts))]
    completions = [["" for _ in prompts] for _ in prefs]
    was_training = model.training
    model.eval()
    try:
        with _left_padding(tokenizer):
            for chunk in tqdm(list(_batches(pairs, batch_size)), desc="generating", disable=not progress):
                rows = prefs[[i for i, _ in chunk]]
                decoded = _generate(model, tokenizer, [texts[j] for _, j in chunk], rows, **generation_kwargs)
                for (i, j), text in zip(chunk, decoded, strict=True):
                    completions[i][j] = text
    finally:
        model.train(was_training)  # the caller's mode, e.g. an evaluation in the middle of training
    scores = _score(prompts, completions, reward_fns, progress)
    return FrontResult(prefs.numpy(), scores.mean(axis=1), scores, names, completions=completions)


@torch.no_grad()
def evaluate_policies(
    select: Callable[[list[float]], Any],
    tokenizer: Any,
    prompts: Sequence[str],
    reward_fns: Sequence[RewardFn],
    preferences: torch.Tensor | Sequence[Sequence[float]] | None = None,
    n_points: int = 11,
    batch_size: int = 16,
    objective_names: Sequence[str] | None = None,
    chat_template: bool = True,
    progress: bool = True,
    **generation_kwargs: Any,
) -> FrontResult:
    """Like :func:`evaluate_front` for baselines that need a different model per preference.

    ``select(preference)`` returns the model to generate with at that preference (a Rewarded Soup mixed at it, the
    discrete solution trained for it, ...); it is called once per preference, in order, so it may reuse one model
    and re-mix its adapters. Same prompts, generation settings and scoring as :func:`evaluate_front`.
    """
    prefs, names = _preferences_and_names(reward_fns, preferences, n_points, objective_names)
    _check_batch(prompts, batch_size)
    generation_kwargs = {"max_new_tokens": 32, "do_sample": False, **generation_kwargs}
    texts = _chat_texts(tokenizer, prompts, chat_template)
    completions = []
    with _left_padding(tokenizer):
        for pref in tqdm(prefs.tolist(), desc="policies", disable=not progress):
            model = select(pref).eval()
            row: list[str] = []
            for chunk in _batches(texts, batch_size):
                row.extend(_generate(model, tokenizer, chunk, None, **generation_kwargs))
            completions.append(row)
    scores = _score(prompts, completions, reward_fns, progress)
    return FrontResult(prefs.numpy(), scores.mean(axis=1), scores, names, completions=completions)
