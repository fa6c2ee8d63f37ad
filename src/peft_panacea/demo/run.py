"""The main job: train one Panacea adapter on two offline objectives, then measure the front it spans.

SmolLM2-135M-Instruct (embedded, offline) learns positivity vs neutrality (both scored by VADER, a real conflict:
positive words lower the neutral share) with
PanaceaGRPOTrainer on the prompts shipped in :mod:`peft_panacea.demo.prompts`; the adapter is then swept over
``preference_grid(2, points)`` on held-out prompts and the front, its metrics and the adapter are written out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from datasets import Dataset

from ..evaluation import FrontResult, evaluate_front
from ..trainer import PanaceaGRPOConfig, PanaceaGRPOTrainer
from ..tuner import PanaceaConfig
from .default_model import load_model
from .prompts import demo_prompts
from .rewards import REWARD_FUNCTIONS
from .task import OBJECTIVES, REFERENCE_POINT, DemoSettings, grpo_arguments


def prompt_dataset(prompts: list[str]) -> Dataset:
    """One conversational ``prompt`` row per prompt, the format TRL's online trainers take."""
    return Dataset.from_list([{"prompt": [{"role": "user", "content": p}]} for p in prompts])


def train(
    settings: DemoSettings, model: Any, tokenizer: Any, prompts: list[str], resume_from_checkpoint: str | None = None
) -> Any:
    """One Panacea adapter trained with PanaceaGRPOTrainer on ``prompts``; returns the adapted model.

    ``resume_from_checkpoint`` continues an interrupted run from one of its checkpoints instead of starting over.
    """
    trainer = PanaceaGRPOTrainer(
        model=model,
        reward_funcs=[REWARD_FUNCTIONS[name] for name in OBJECTIVES],
        args=PanaceaGRPOConfig(
            **grpo_arguments(settings, Path(settings.output_dir) / "trainer"),
            aggregation=settings.aggregation,
            preference_sampling=settings.preference_sampling,
            preference_granularity=settings.preference_granularity,
            preference_lr_ratio=settings.preference_lr_ratio,
            reward_normalization=settings.reward_normalization,
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
    trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    return trainer.model


BASE_LABEL = "base model (no adapter)"


def write_outputs(result: FrontResult, base: FrontResult, output_dir: Path) -> None:
    """front.json (with the untrained model's scores under ``base_model``) and front.png (with its point)."""
    base_model = {"objectives": base.objectives[0].tolist(), "completions": base.completions[0]}
    result.to_json(output_dir / "front.json", reference_point=REFERENCE_POINT, extra={"base_model": base_model})
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


def run_demo(settings: DemoSettings) -> tuple[FrontResult, FrontResult]:
    """Train, sweep, and write adapter/, front.json and front.png to ``settings.output_dir``; returns the front and
    the untrained model's point."""
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
