"""Shared by PanaceaGRPOTrainer and PanaceaRLOOTrainer: the preference of a rollout, from generation to loss.

The preference is drawn *before* generation and kept for scoring and for the loss of that rollout (drawing it after
generation makes the update off-policy with respect to the preference). It travels with the rollout as a
``preference`` tensor, which TRL shuffles and splits together with the other per-row tensors.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import numbers
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from accelerate.utils import gather

from ..aggregation import aggregate
from ..compat.trl_compat import bind_per_token_logps, force_vllm_weight_sync
from ..tuner.config import PanaceaConfig
from ..tuner.preference import is_per_sample, validate_preference
from .core import PanaceaTrainerMixin
from .data import PREFERENCE, check_not_empty, check_preference_column

PLACEHOLDER = "panacea_scalarized"


def _scalarized_placeholder(prompts: list, **kwargs: Any) -> list[None]:
    """Stands in the reward list for the aggregated reward, which the trainer fills in after scoring."""
    return [None] * len(prompts)


_scalarized_placeholder.__name__ = PLACEHOLDER


def _row_slice(call: inspect.BoundArguments, rows: int, start: int, end: int) -> inspect.BoundArguments:
    """The same call restricted to rows ``start:end``: every tensor argument with ``rows`` rows is sliced."""
    sliced = {
        name: value[start:end] if isinstance(value, torch.Tensor) and value.shape[:1] == (rows,) else value
        for name, value in call.arguments.items()
    }
    return inspect.BoundArguments(call.signature, sliced)


def reward_name(func: Any) -> str | None:
    """The name a reward callable was given, looking through ``functools.partial``; None when it has none worth
    checking (a lambda, a callable object without ``__name__``, a model), so nothing is refused on a guess."""
    while isinstance(func, functools.partial):
        func = func.func
    name = getattr(func, "__name__", None)
    if not isinstance(name, str) or name == "<lambda>":
        return None
    return name


def _checked_rewards(output: Any, label: str) -> Any:
    """``output`` if it is one reward (a number, or None for unscored) per completion; a named error otherwise."""
    values = output.tolist() if isinstance(output, (torch.Tensor, np.ndarray)) else output
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise ValueError(
            f"Reward function {label} returned {type(output).__name__} {output!r} instead of a list with one "
            "float (or None) per completion."
        )
    values = list(values)
    bad = [v for v in values if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Real))]
    if bad:
        raise ValueError(
            f"Reward function {label} returned non-numeric rewards {bad[:3]}; return one float (or None for "
            "unscored) per completion."
        )
    return values


def checked_reward(func: Any, label: str) -> Any:
    """``func`` with its output checked by :func:`_checked_rewards`; async functions stay async (TRL runs those
    concurrently), and the name TRL logs under is kept."""
    unwrapped = func
    while isinstance(unwrapped, functools.partial):
        unwrapped = unwrapped.func
    if inspect.iscoroutinefunction(unwrapped) or inspect.iscoroutinefunction(type(unwrapped).__call__):

        @functools.wraps(func)
        async def checked_async(*args: Any, **kwargs: Any) -> Any:
            return _checked_rewards(await func(*args, **kwargs), label)

        return checked_async

    @functools.wraps(func)
    def checked(*args: Any, **kwargs: Any) -> Any:
        return _checked_rewards(func(*args, **kwargs), label)

    return checked


class RunningMoments:
    """Per-objective running mean, std and maximum over every finite reward seen (all processes), in float64 so a
    single huge reward cannot overflow the sums."""

    def __init__(self, m: int) -> None:
        self.count = torch.zeros(m, dtype=torch.float64)
        self.mean = torch.zeros(m, dtype=torch.float64)
        self.m2 = torch.zeros(m, dtype=torch.float64)
        self.max = torch.full((m,), float("-inf"), dtype=torch.float64)

    def update(self, values: torch.Tensor) -> None:
        """Chan et al.'s parallel update with a batch (N, m); NaN and infinite (unscored) entries are skipped."""
        values = values.detach().double().cpu()
        valid = torch.isfinite(values)
        n = valid.sum(0).double()
        safe = torch.where(valid, values, torch.zeros_like(values))
        batch_mean = safe.sum(0) / n.clamp(min=1)
        batch_m2 = (torch.where(valid, values - batch_mean, torch.zeros_like(values)) ** 2).sum(0)
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean = torch.where(n > 0, self.mean + delta * n / total.clamp(min=1), self.mean)
        self.m2 = torch.where(n > 0, self.m2 + batch_m2 + delta**2 * self.count * n / total.clamp(min=1), self.m2)
        self.count = total
        self.max = torch.maximum(self.max, torch.where(valid, values, torch.full_like(values, -float("inf"))).amax(0))

    @property
    def std(self) -> torch.Tensor:
        return (self.m2 / (self.count - 1).clamp(min=1)).sqrt()

    def state_dict(self) -> dict[str, list[float]]:
        return {name: getattr(self, name).tolist() for name in ("count", "mean", "m2", "max")}

    def load_state_dict(self, state: dict[str, list[float]]) -> None:
        for name, value in state.items():
            setattr(self, name, torch.tensor(value, dtype=torch.float64))


class PanaceaOnlineMixin(PanaceaTrainerMixin):
    """Mixed before ``GRPOTrainer`` / ``RLOOTrainer``; ``self.args`` has :class:`PanaceaOnlineArguments` fields."""

    @staticmethod
    def _copy_reward_lists(reward_funcs: Any, kwargs: dict[str, Any]) -> Any:
        """The caller's lists of reward functions and processing classes, copied: the trainer appends its
        placeholder to them and wraps their entries, which must not change a list the caller uses again."""
        if isinstance(kwargs.get("reward_processing_classes"), list):
            kwargs["reward_processing_classes"] = list(kwargs["reward_processing_classes"])
        return list(reward_funcs) if isinstance(reward_funcs, list) else reward_funcs

    def _setup_online(self, config: PanaceaConfig) -> None:
        self._setup_panacea(config)
        self.preference_names = config.preference_names
        self._check_reward_functions(config)
        self._check_reward_outputs()
        self.reward_funcs.append(_scalarized_placeholder)
        self.reward_func_names.append(PLACEHOLDER)
        self.reward_processing_classes.append(None)
        self.reward_weights = torch.tensor([0.0] * self.pref_dim + [1.0])
        self.reward_moments = RunningMoments(self.pref_dim)
        self._rollout_preference: torch.Tensor | None = None
        self._synced_preference: torch.Tensor | None = None

    def _check_reward_functions(self, config: PanaceaConfig) -> None:
        if len(self.reward_funcs) != config.pref_dim:
            raise ValueError(
                f"Got {len(self.reward_funcs)} reward functions for an adapter with pref_dim={config.pref_dim}; pass "
                f"one per objective, in the order {config.objective_names}."
            )
        if config.preference_names and self.args.check_reward_names:
            for index, (func, name) in enumerate(zip(self.reward_funcs, config.preference_names, strict=True)):
                own = reward_name(func)
                if own is not None and own != name:
                    raise ValueError(
                        f"Reward function {index} is named '{own}' but objective {index} is '{name}'. Pass "
                        "the reward functions in the adapter's objective order with matching names, or set "
                        "check_reward_names=False."
                    )

    @staticmethod
    def _check_datasets(args: Any, config: PanaceaConfig, kwargs: dict[str, Any]) -> None:
        """Before any work: no empty dataset, and a valid ``preference`` in every row of that column."""
        for name in ("train_dataset", "eval_dataset"):
            check_not_empty(kwargs.get(name), name)
        per_group = args.preference_granularity == "group"
        names = config.preference_names
        check_preference_column(kwargs.get("train_dataset"), config.pref_dim, names, per_group, "train_dataset")

    def _check_reward_outputs(self) -> None:
        """Wrap each reward callable so that a wrong output type is named, not a TypeError inside TRL."""
        for index, func in enumerate(self.reward_funcs):
            if callable(func) and not isinstance(func, torch.nn.Module):
                label = f"'{self.reward_func_names[index]}' (objective {index}, '{self.objective_names[index]}')"
                self.reward_funcs[index] = checked_reward(func, label)

    @staticmethod
    def _check_generation_backend(args: Any, kwargs: dict[str, Any]) -> None:
        """Per-group preferences need a generation path that keeps one preference per row; raise otherwise."""
        if args.preference_granularity == "batch":
            return
        blockers = {
            "use_vllm=True": getattr(args, "use_vllm", False),
            "use_transformers_continuous_batching=True": getattr(args, "use_transformers_continuous_batching", False),
            "tools": kwargs.get("tools"),
            "rollout_func": kwargs.get("rollout_func"),
            "environment_factory": kwargs.get("environment_factory"),
        }
        used = [name for name, value in blockers.items() if value]
        if used:
            raise ValueError(
                f"preference_granularity='group' needs one preference per row during generation, which {used} cannot "
                "carry (vLLM syncs weights merged at one preference; tools, rollout functions and continuous "
                "batching regroup rows). Use preference_granularity='batch'."
            )

    # ------------------------------------------------------------------------------------- preference per rollout
    def _group_preferences(self, inputs: list[dict[str, Any]]) -> torch.Tensor:
        """One row per input. A ``preference`` column wins; otherwise a draw keyed on (seed, step, prompt), so every
        completion of a prompt, on every process, gets the same preference."""
        rows = []
        for example in inputs:
            if PREFERENCE in example and example[PREFERENCE] is not None:
                rows.append(validate_preference(example[PREFERENCE], self.pref_dim, self.preference_names).tolist())
                continue
            digest = hashlib.sha256(repr(example["prompt"]).encode()).digest()
            rng = np.random.default_rng([self.args.seed, self.state.global_step, int.from_bytes(digest[:8], "little")])
            sampler = self.preference_sampler
            pref = rng.dirichlet([sampler.alpha] * self.pref_dim)
            if sampler.vertex_probability > 0 and rng.random() < sampler.vertex_probability:
                pref = np.eye(self.pref_dim)[rng.integers(self.pref_dim)]
            rows.append(pref.tolist())
        return torch.tensor(rows, dtype=torch.float32)

    def _rollout_preferences(self, inputs: list[dict[str, Any]]) -> torch.Tensor:
        mode = "train" if self.model.training else "eval"
        if self.args.preference_granularity == "group" and mode == "train":
            return self._group_preferences(inputs)
        return self.next_preference(len(inputs), mode).expand(len(inputs), -1).clone()

    def _apply_rollout_preference(self, preference: torch.Tensor) -> None:
        per_batch = self.args.preference_granularity == "batch"
        self.apply_preference(preference[0] if per_batch else preference)
        if getattr(self, "use_vllm", False) and per_batch:
            if self._synced_preference is None or not torch.equal(self._synced_preference, preference[0]):
                force_vllm_weight_sync(self)
                self._synced_preference = preference[0].clone()

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        preference = self._rollout_preferences(inputs)
        self._rollout_preference = preference
        for example, row in zip(inputs, preference.tolist(), strict=True):
            example[PREFERENCE] = row  # reward functions receive it as the `preference` keyword
        self._apply_rollout_preference(preference)
        output = super()._generate_and_score_completions(inputs)
        output[PREFERENCE] = preference.to(self.accelerator.device)
        mode = "train" if self.model.training else "eval"
        means = gather(preference.to(self.accelerator.device)).mean(0)
        for name, value in zip(self.objective_names, means.tolist(), strict=True):
            self._metrics[mode][f"preference/{name}"].append(value)
        return output

    def panacea_state(self) -> dict[str, Any]:
        return {**super().panacea_state(), "reward_moments": self.reward_moments.state_dict()}

    def load_panacea_state(self, state: dict[str, Any]) -> None:
        super().load_panacea_state(state)
        self.reward_moments.load_state_dict(state["reward_moments"])

    # -------------------------------------------------------------------------------------------- rewards
    def normalize_rewards(self, rewards: torch.Tensor, num_generations: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised per-objective rewards (N, m) and the ideal point in the same units (m,)."""
        mode = self.args.reward_normalization
        ideal = self.args.tchebycheff_ideal_point
        if mode == "group":
            grouped = rewards.view(-1, num_generations, self.pref_dim)
            mean = torch.nanmean(grouped, dim=1, keepdim=True)
            std = torch.sqrt(torch.nanmean((grouped - mean) ** 2, dim=1, keepdim=True))
            normalized = ((grouped - mean) / (std + 1e-4)).view(-1, self.pref_dim)
            return normalized, normalized.nan_to_num(nan=-float("inf")).amax(0)
        if mode == "running":
            self.reward_moments.update(rewards)
            mean = self.reward_moments.mean.to(rewards.device, rewards.dtype)
            std = self.reward_moments.std.to(rewards.device, rewards.dtype)
            scale = lambda x: (x - mean) / (std + 1e-4)  # noqa: E731
        else:
            self.reward_moments.update(rewards)
            scale = lambda x: x  # noqa: E731
        if ideal is not None:
            return scale(rewards), scale(torch.tensor(ideal, dtype=rewards.dtype, device=rewards.device))
        return scale(rewards), scale(self.reward_moments.max.to(rewards.device, rewards.dtype))

    def _unscored_if_not_finite(self, objectives: torch.Tensor) -> torch.Tensor:
        """Infinite rewards become NaN (unscored), so they never reach the running moments or the aggregation; an
        objective with no finite reward in the whole batch is trained on nothing this step, which is said loudly."""
        finite = torch.isfinite(objectives)
        for i, name in enumerate(self.objective_names):
            bad = int((~finite[:, i]).sum())
            if bad == len(objectives):
                warnings.warn(
                    f"Reward function for objective '{name}' returned no finite reward for any of the {bad} "
                    f"completions of step {self.state.global_step}: this objective gets no training signal this "
                    "step. Check that it returns one float per completion.",
                    stacklevel=2,
                )
            elif bad and torch.isinf(objectives[:, i]).any():
                warnings.warn(
                    f"Reward function for objective '{name}' returned {bad} non-finite rewards at step "
                    f"{self.state.global_step}; they are treated as unscored.",
                    stacklevel=2,
                )
        return torch.where(finite, objectives, torch.full_like(objectives, float("nan")))

    def _calculate_rewards(self, inputs: list, prompts: list, completions: list, completion_ids_list: list) -> Any:
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)  # (N_global, m + 1)
        preference = gather(self._rollout_preference.to(rewards.device))  # same process-major order as rewards
        mode = "train" if self.model.training else "eval"
        generations = self.num_generations if mode == "train" else getattr(self, "num_generations_eval", None)
        objectives = self._unscored_if_not_finite(rewards[:, : self.pref_dim])
        normalized, ideal = self.normalize_rewards(objectives, generations or self.num_generations)
        known = ~torch.isnan(normalized)
        aggregated = aggregate(
            normalized.nan_to_num(0.0),
            preference,
            self.args.aggregation,
            ideal,
            self.args.smooth_tchebycheff_mu,
            mask=known,
            maximize=True,
        )
        rewards[:, self.pref_dim] = torch.where(known.any(-1), aggregated, torch.full_like(aggregated, float("nan")))
        return rewards

    # ------------------------------------------------------------------------------------------------ loss
    def _get_per_token_logps_and_entropies(self, model: Any, *args: Any, **kwargs: Any) -> Any:
        """Chunked no-grad passes must see the preference rows of their own chunk.

        TRL's arguments are bound by name (``trl_compat.bind_per_token_logps``), so a reordered signature cannot
        make this read the wrong one as ``batch_size``.
        """
        upstream = super()._get_per_token_logps_and_entropies
        state = self.panacea_model.base_model.preference_states[self.panacea_model.active_adapter]
        full = state.value
        call = bind_per_token_logps(upstream, model, *args, **kwargs)
        rows = call.arguments["input_ids"].shape[0]
        batch_size = call.arguments["batch_size"]
        if not is_per_sample(full) or full.shape[0] != rows or not batch_size or batch_size >= rows:
            return upstream(*call.args, **call.kwargs)
        if torch.is_grad_enabled():
            raise RuntimeError("Per-row preferences with chunked gradient passes are not supported.")
        pieces = []
        for start in range(0, rows, batch_size):
            with state.call_scoped(full[start : start + batch_size]):
                chunk = _row_slice(call, rows, start, start + batch_size)
                pieces.append(upstream(*chunk.args, **chunk.kwargs))
        logps = torch.cat([p[0] for p in pieces])
        entropies = torch.cat([p[1] for p in pieces]) if pieces[0][1] is not None else None
        aux = torch.stack([p[2] for p in pieces]).mean() if pieces[0][2] is not None else None
        return logps, entropies, aux

    def _compute_loss(self, model: Any, inputs: dict[str, Any]) -> torch.Tensor:
        preference = inputs[PREFERENCE]
        per_batch = self.args.preference_granularity == "batch"
        self.apply_preference(preference[0] if per_batch else preference)  # stays set through backward
        loss = super()._compute_loss(model, inputs)
        if self.orth_reg_weight:
            penalty = self.orth_reg_weight * self.panacea_model.orthogonal_regularization()
            loss = loss + (
                penalty / self.current_gradient_accumulation_steps if self.loss_is_scaled_for_ga else penalty
            )
        return loss
