"""The demo task: two offline objectives that conflict, and the settings every model trained on it shares.

Kept free of heavy imports (no datasets, no trainers) so that the ``panacea`` command can read the defaults
without loading the training stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Positivity and conciseness were tried first: a policy of emoji strings maximised both (no trade-off to steer).
OBJECTIVES = ["positivity", "neutrality"]
# The worst value of each reward (VADER compound -1, neutral share 0): a fixed, explicit hypervolume reference.
REFERENCE_POINT = [-1.0, 0.0]


@dataclass
class DemoSettings:
    steps: int = 60
    output_dir: str = "outputs/demo"
    model: str | None = None
    seed: int = 0
    points: int = 11
    eval_prompts: int = 8
    num_generations: int = 4
    prompts_per_step: int = 2
    max_completion_length: int = 32
    learning_rate: float = 1e-3
    # The recipe chosen by benchmarks/front_ablation.py (BENCHMARKS.md, "Which recipe steers"): the LoRA-style
    # initialisation, one preference per prompt group (every step contrasts two trade-offs), the preference
    # directions at 4x the learning rate of the shared ones (at lr 2e-3 for all, 2 of 3 seeds collapsed into one
    # degenerate neutral reply; at 1e-3 for all, the adapter barely steered), and a KL anchor to the untrained
    # model (without it, 2 of 5 seeds drifted into weak or repetitive fronts).
    beta: float = 0.04
    init_panacea_weights: bool | str = True
    lora_alpha: float | None = None
    preference_granularity: str = "group"
    preference_sampling: str = "vertex"
    aggregation: str = "linear"
    preference_lr_ratio: float = 4.0
    reward_normalization: str = "running"
    # Every so many steps, a checkpoint under output_dir/trainer (benchmarks sweep fronts along a long run); 0: none.
    save_steps: int = 0


def grpo_arguments(settings: DemoSettings, output_dir: str | Path) -> dict[str, Any]:
    """The GRPO settings every model trained on the demo task shares (the benchmarks' baselines use them too)."""
    return {
        "output_dir": str(output_dir),
        "max_steps": settings.steps,
        "per_device_train_batch_size": settings.prompts_per_step * settings.num_generations,
        "num_generations": settings.num_generations,
        "max_completion_length": settings.max_completion_length,
        "learning_rate": settings.learning_rate,
        "beta": settings.beta,
        "gradient_checkpointing": False,
        "bf16": False,
        "use_cpu": True,
        "logging_steps": max(1, settings.steps // 6),
        "save_strategy": "steps" if settings.save_steps else "no",
        **({"save_steps": settings.save_steps} if settings.save_steps else {}),
        "report_to": [],
        "seed": settings.seed,
    }
