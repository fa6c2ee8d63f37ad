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


def train(settings: DemoSettings, model: Any, tokenizer: Any, prompts: list[str], aggregation: str = "linear") -> Any:
    """One Panacea adapter trained with PanaceaGRPOTrainer on ``prompts``; returns the adapted model."""
    trainer = PanaceaGRPOTrainer(
        model=model,
        reward_funcs=[REWARD_FUNCTIONS[name] for name in OBJECTIVES],
        args=PanaceaGRPOConfig(
            **grpo_arguments(settings, Path(settings.output_dir) / "trainer"),
            aggregation=aggregation,
            preference_sampling="vertex",
            reward_normalization="running",
        ),
        train_dataset=prompt_dataset(prompts),
        processing_class=tokenizer,
        peft_config=PanaceaConfig(pref_dim=2, preference_names=OBJECTIVES, task_type="CAUSAL_LM"),
    )
    trainer.train()
    return trainer.model


def write_outputs(result: FrontResult, output_dir: Path) -> None:
    result.to_json(output_dir / "front.json", reference_point=REFERENCE_POINT)
    result.plot(output_dir / "front.png")


def run_demo(settings: DemoSettings) -> FrontResult:
    """Train, sweep, and write adapter/, front.json and front.png to ``settings.output_dir``."""
    torch.manual_seed(settings.seed)
    model, tokenizer = load_model(settings.model)
    output_dir = Path(settings.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    prompts = demo_prompts()
    held_out, train_prompts = prompts[: settings.eval_prompts], prompts[settings.eval_prompts :]
    model = train(settings, model, tokenizer, train_prompts)
    model.save_pretrained(output_dir / "adapter")
    result = evaluate_front(
        model,
        tokenizer,
        held_out,
        [REWARD_FUNCTIONS[name] for name in OBJECTIVES],
        n_points=settings.points,
        batch_size=24,
        max_new_tokens=settings.max_completion_length,
    )
    result.reference_point = REFERENCE_POINT
    write_outputs(result, output_dir)
    return result
