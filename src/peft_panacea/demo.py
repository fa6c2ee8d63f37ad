"""The main job: train one Panacea adapter on two offline objectives, then measure the front it spans.

SmolLM2-135M-Instruct (embedded, offline) learns positivity vs neutrality (both scored by VADER, a real conflict:
positive words lower the neutral share) with
PanaceaGRPOTrainer on the prompts shipped in :mod:`peft_panacea.prompts`; the adapter is then swept over
``preference_grid(2, points)`` on held-out prompts and the front, its metrics and the adapter are written out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset

from .evaluation import FrontResult, evaluate_front
from .prompts import demo_prompts
from .rewards import REWARD_FUNCTIONS

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
    learning_rate: float = 2e-3
    init_panacea_weights: bool | str = True
    lora_alpha: float | None = None
    preference_granularity: str = "batch"
    preference_sampling: str = "vertex"
    aggregation: str = "linear"


def load_model(path: str | None) -> tuple[Any, Any]:
    """A local causal LM and its tokenizer, or the embedded SmolLM2 when ``path`` is None."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if path is None:
        from .default_model import load_default_model

        return load_default_model()
    if not Path(path).exists():
        raise FileNotFoundError(f"model path '{path}' does not exist; pass a local causal LM folder or omit --model")
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return AutoModelForCausalLM.from_pretrained(path), tokenizer


def grpo_arguments(settings: DemoSettings, output_dir: str | Path) -> dict[str, Any]:
    """The GRPO settings every model trained on the demo task shares (the benchmarks' baselines use them too)."""
    return {
        "output_dir": str(output_dir),
        "max_steps": settings.steps,
        "per_device_train_batch_size": settings.prompts_per_step * settings.num_generations,
        "num_generations": settings.num_generations,
        "max_completion_length": settings.max_completion_length,
        "learning_rate": settings.learning_rate,
        "gradient_checkpointing": False,
        "bf16": False,
        "use_cpu": True,
        "logging_steps": max(1, settings.steps // 6),
        "save_strategy": "no",
        "report_to": [],
        "seed": settings.seed,
    }


def prompt_dataset(prompts: list[str]) -> Dataset:
    return Dataset.from_list([{"prompt": [{"role": "user", "content": p}]} for p in prompts])


def train(settings: DemoSettings, model: Any, tokenizer: Any, prompts: list[str]) -> Any:
    """One Panacea adapter trained with PanaceaGRPOTrainer on ``prompts``; returns the adapted model."""
    from .config import PanaceaConfig
    from .trainer import PanaceaGRPOConfig, PanaceaGRPOTrainer

    trainer = PanaceaGRPOTrainer(
        model=model,
        reward_funcs=[REWARD_FUNCTIONS[name] for name in OBJECTIVES],
        args=PanaceaGRPOConfig(
            **grpo_arguments(settings, Path(settings.output_dir) / "trainer"),
            aggregation=settings.aggregation,
            preference_sampling=settings.preference_sampling,
            preference_granularity=settings.preference_granularity,
            reward_normalization="running",
        ),
        train_dataset=prompt_dataset(prompts),
        processing_class=tokenizer,
        peft_config=PanaceaConfig(
            pref_dim=2,
            preference_names=OBJECTIVES,
            init_panacea_weights=settings.init_panacea_weights,
            lora_alpha=settings.lora_alpha,
            task_type="CAUSAL_LM",
        ),
    )
    trainer.train()
    return trainer.model


BASE_LABEL = "base model (no adapter)"


def write_outputs(result: FrontResult, base: FrontResult, output_dir: Path) -> None:
    """front.json (with the untrained model's scores under ``base_model``) and front.png (with its point)."""
    path = output_dir / "front.json"
    result.to_json(path, reference_point=REFERENCE_POINT)
    data = json.loads(path.read_text())
    data["base_model"] = {"objectives": base.objectives[0].tolist(), "completions": base.completions[0]}
    path.write_text(json.dumps(data, indent=2))
    result.plot(output_dir / "front.png", baselines={BASE_LABEL: base.objectives})


def sweep(model: Any, tokenizer: Any, prompts: list[str], settings: DemoSettings, **kwargs: Any) -> FrontResult:
    """Greedy completions of ``prompts`` scored on the demo objectives, over the grid unless told otherwise."""
    return evaluate_front(
        model,
        tokenizer,
        prompts,
        [REWARD_FUNCTIONS[name] for name in OBJECTIVES],
        n_points=settings.points,
        batch_size=24,
        max_new_tokens=settings.max_completion_length,
        **kwargs,
    )


def evaluate_base(model: Any, tokenizer: Any, prompts: list[str], settings: DemoSettings) -> FrontResult:
    """The untrained model's point: the same sweep with the adapter disabled (one preference, any: it is unused)."""
    with model.disable_adapter():
        return sweep(model, tokenizer, prompts, settings, preferences=[[0.5, 0.5]], progress=False)


def format_table(result: FrontResult, base: FrontResult | None = None) -> str:
    names = result.objective_names
    lines = [f"{'preference':>14} | " + " | ".join(f"{n:>11}" for n in names)]
    for pref, scores in zip(result.preferences, result.objectives, strict=True):
        label = "(" + ", ".join(f"{w:.1f}" for w in pref) + ")"
        lines.append(f"{label:>14} | " + " | ".join(f"{s:11.3f}" for s in scores))
    if base is not None:
        lines.append(f"{'base model':>14} | " + " | ".join(f"{s:11.3f}" for s in base.objectives[0]))
    metrics = result.metrics()
    lines.append(
        f"hypervolume {metrics['hypervolume']:.4f} (reference {metrics['reference_point']}), "
        f"inner product {metrics['inner_product']:.4f}, sparsity {metrics['sparsity']:.5f}, "
        f"spacing {metrics['spacing']:.5f}"
    )
    lines.append(
        "monotonicity (Spearman of weight vs score): "
        + ", ".join(f"{name} {rho:.2f}" for name, rho in metrics["monotonicity"].items())
    )
    return "\n".join(lines)


def run_demo(settings: DemoSettings) -> tuple[FrontResult, FrontResult]:
    """Train, sweep, and write adapter/, front.json and front.png to ``settings.output_dir``; returns the front and
    the untrained model's point."""
    import torch

    torch.manual_seed(settings.seed)
    model, tokenizer = load_model(settings.model)
    output_dir = Path(settings.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    prompts = demo_prompts()
    held_out, train_prompts = prompts[: settings.eval_prompts], prompts[settings.eval_prompts :]
    model = train(settings, model, tokenizer, train_prompts)
    model.save_pretrained(output_dir / "adapter")
    result = sweep(model, tokenizer, held_out, settings)
    result.reference_point = REFERENCE_POINT
    base = evaluate_base(model, tokenizer, held_out, settings)
    write_outputs(result, base, output_dir)
    return result, base
