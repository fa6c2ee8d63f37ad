"""TRL 1.16 internals used by the Panacea trainers (``trainer/``) and by the tuner's forward, and the helpers that
reach them.

DPO and SFT replace TRL's loss methods (``_compute_loss`` / ``compute_loss``) and rely on TRL's fused LM head
(``model(..., fused_lm_head=True)`` returns per-token ``log_probs`` and ``label_mask`` instead of logits); GRPO and
RLOO wrap TRL's methods and call ``super()``. Nothing here imports TRL, so the tuner can use
:func:`is_fused_lm_head_call` without it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from . import Hook

FUSED_LM_HEAD = "fused_lm_head"

_DPO = "trl.DPOTrainer"
_ONLINE = ("trl.GRPOTrainer", "trl.RLOOTrainer")
_PER_TOKEN_LOGPS = "_get_per_token_logps_and_entropies"


def _online(name: str, used_for: str, parameters: tuple[str, ...] | None = None, **kwargs: Any) -> tuple[Hook, ...]:
    return tuple(Hook(owner, name, used_for, parameters, **kwargs) for owner in _ONLINE)


HOOKS: tuple[Hook, ...] = (
    Hook(
        "trl.trainer.utils",
        "add_fused_lm_head",
        "DPO/SFT losses and the tuner's forward: the fused_lm_head=True keyword TRL adds to the model",
        ("model",),
    ),
    Hook("trl.trainer.utils.FusedCausalLMOutput", "log_probs", "DPO/SFT losses: per-token log-probabilities"),
    Hook("trl.trainer.utils.FusedCausalLMOutput", "label_mask", "SFT loss: tokens that count in the mean NLL"),
    Hook(_DPO, "_compute_loss", "override: m per-objective DPO losses", ("self", "model", "inputs", "return_outputs")),
    Hook(
        _DPO,
        "_precompute_ref_logps",
        "override: drop TRL's 'ref' adapter before precomputing the reference",
        ("self", "dataset", "name", "batch_size"),
    ),
    Hook(_DPO, "compute_ref_log_probs", "call: the reference log-probabilities", ("self", "model", "inputs")),
    Hook(_DPO, "precompute_ref_logps", "DPO: precomputed reference columns in the batch", instance_attribute=True),
    Hook(_DPO, "loss_types", "DPO: sigmoid, hinge or ipo", instance_attribute=True),
    Hook(_DPO, "beta", "DPO: the KL coefficient", instance_attribute=True),
    Hook("trl.SFTTrainer", "compute_loss", "override: per-objective mean NLLs", ("self", "model", "inputs")),
    *(
        Hook(owner, "_metrics", "trainer core: per-objective metrics in TRL's log", instance_attribute=True)
        for owner in (_DPO, "trl.SFTTrainer", *_ONLINE)
    ),
    *_online("_generate_and_score_completions", "wrap: set the preference before generating", ("self", "inputs")),
    *_online(
        "_calculate_rewards",
        "wrap: aggregate the per-objective rewards with the rollout's preference",
        ("self", "inputs", "prompts", "completions", "completion_ids_list"),
    ),
    *_online(
        _PER_TOKEN_LOGPS,
        "wrap: chunked no-grad passes see their own rows' preferences",
        ("self", "model", "input_ids", "attention_mask", "logits_to_keep", "batch_size"),
    ),
    *_online("_compute_loss", "wrap: micro-batch preference through backward", ("self", "model", "inputs")),
    *_online("reward_funcs", "online: m reward functions + the aggregate", instance_attribute=True),
    *_online("reward_func_names", "online: logged reward names", instance_attribute=True),
    *_online("reward_processing_classes", "online: one entry per reward function", instance_attribute=True),
    *_online("reward_weights", "online: only the aggregated reward counts", instance_attribute=True),
    *_online("num_generations", "online: group size for group normalisation", instance_attribute=True),
    *_online("use_vllm", "online: force a weight re-sync when the preference changes", instance_attribute=True),
    Hook("trl.GRPOTrainer", "_last_loaded_step", "online: -1 forces the vLLM weight re-sync", instance_attribute=True),
    Hook("trl.GRPOTrainer", "loss_is_scaled_for_ga", "online: whether the penalty is scaled like the loss"),
)


def is_fused_lm_head_call(kwargs: dict[str, Any]) -> bool:
    """Whether a forward was called by TRL's fused LM head, whose ``loss`` TRL never reads."""
    return bool(kwargs.get(FUSED_LM_HEAD))


def fused_log_probs(model: Any, **inputs: Any) -> Any:
    """``model(**inputs)`` through TRL's fused LM head: an output with per-token ``log_probs`` and ``label_mask``."""
    return model(**inputs, **{FUSED_LM_HEAD: True})


def bind_per_token_logps(method: Callable[..., Any], *args: Any, **kwargs: Any) -> inspect.BoundArguments:
    """Bind a call of TRL's ``_get_per_token_logps_and_entropies`` by parameter name (defaults applied), so the
    Panacea wrapper reads ``batch_size`` and slices row tensors without depending on argument positions."""
    bound = inspect.signature(method).bind(*args, **kwargs)
    bound.apply_defaults()
    return bound


def force_vllm_weight_sync(trainer: Any) -> None:
    """Make TRL push the policy's weights to vLLM before the next generation: the weights vLLM holds were merged at
    the previous preference. TRL re-syncs only when ``global_step`` differs from ``_last_loaded_step``."""
    trainer._last_loaded_step = -1
