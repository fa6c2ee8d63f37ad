"""Which initialisation and sampling make one Panacea adapter steer: an ablation on the demo task.

Each variant is the demo (SmolLM2-135M-Instruct, positivity vs neutrality, PanaceaGRPOTrainer on the shipped
prompts) with some of :class:`~peft_panacea.demo.DemoSettings` changed; every (variant, seed) is trained once, swept
greedily over ``preference_grid(2, 11)`` on the held-out prompts and scored against the untrained model.
Results are appended to ``<output-dir>/ablation.jsonl`` (a finished (variant, seed) is skipped when run again) and
the table of every finished run is printed.

    python benchmarks/front_ablation.py --variants default paper --seeds 0 1 2 [--steps 60]

With ``--save-steps N`` a run keeps a checkpoint every N steps; ``--checkpoints`` then also sweeps each kept
checkpoint of the named runs (rows with ``steps`` K and ``schedule_steps`` the run's length: a front part-way
through one long schedule, not a shorter run). After an interruption, the same command with ``--resume`` continues
each unfinished run from its last kept checkpoint.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from peft import PeftModel

from peft_panacea.demo.default_model import load_model
from peft_panacea.demo.prompts import demo_prompts
from peft_panacea.demo.run import sweep, train
from peft_panacea.demo.task import REFERENCE_POINT, DemoSettings

# Each variant: the DemoSettings fields it sets. The first rows were measured before the demo's learning rates and KL
# weight changed, so they name the settings of that time (lr 2e-3 for every direction, beta 0) explicitly.
LORA_GROUP = {"init_panacea_weights": True, "preference_granularity": "group"}
FIRST = {"learning_rate": 2e-3, "preference_lr_ratio": 1.0, "beta": 0.0}
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "paper": {**FIRST, "init_panacea_weights": "paper", "preference_granularity": "batch"},
    "paper-group": {**FIRST, "init_panacea_weights": "paper", "preference_granularity": "group"},
    "lora-batch": {**FIRST, "init_panacea_weights": True, "preference_granularity": "batch"},
    "lora-group": {**FIRST, **LORA_GROUP},
    "lora-group-c1": {**FIRST, **LORA_GROUP, "lora_alpha": 8},
    "lora-group-c4": {**FIRST, **LORA_GROUP, "lora_alpha": 32},
    "lora-group-tche": {**FIRST, **LORA_GROUP, "aggregation": "tchebycheff"},
    "lora-group-lr1e-3": {**FIRST, **LORA_GROUP, "learning_rate": 1e-3},
    "lora-group-kl": {**FIRST, **LORA_GROUP, "beta": 0.04},
    "lora-group-uniform": {**FIRST, **LORA_GROUP, "preference_sampling": "uniform"},
    "lora-group-pref4": {**LORA_GROUP, "learning_rate": 2e-3, "preference_lr_ratio": 4.0, "beta": 0.0},
    "lora-group-lr1e-3-pref4": {**LORA_GROUP, "learning_rate": 1e-3, "preference_lr_ratio": 4.0, "beta": 0.0},
    # the demo's recipe now (DemoSettings' defaults)
    "lora-group-lr1e-3-pref4-kl": {**LORA_GROUP, "learning_rate": 1e-3, "preference_lr_ratio": 4.0, "beta": 0.04},
    "lora-group-lr1e-3-pref4-groupnorm": {
        **LORA_GROUP,
        "learning_rate": 1e-3,
        "preference_lr_ratio": 4.0,
        "beta": 0.0,
        "reward_normalization": "group",
    },
    "lora-group-lr1e-3-pref4-tche": {
        **LORA_GROUP,
        "learning_rate": 1e-3,
        "preference_lr_ratio": 4.0,
        "beta": 0.0,
        "aggregation": "tchebycheff",
    },
    # the demo's recipe with Tchebycheff aggregation
    "lora-group-lr1e-3-pref4-kl-tche": {
        **LORA_GROUP,
        "learning_rate": 1e-3,
        "preference_lr_ratio": 4.0,
        "beta": 0.04,
        "aggregation": "tchebycheff",
    },
}


def evaluate(model: Any, tokenizer: Any, prompts: list[str], settings: DemoSettings) -> dict[str, Any]:
    result = sweep(model, tokenizer, prompts, settings, progress=False)
    metrics = result.metrics(np.array(REFERENCE_POINT))
    objectives = np.asarray(result.objectives)
    return {
        "hypervolume": metrics["hypervolume"],
        "monotonicity": metrics["monotonicity"],
        "front": objectives.tolist(),
        "positivity_spread": float(objectives[:, 0].max() - objectives[:, 0].min()),
        "completions": [
            result.completions[0][0],
            result.completions[len(objectives) // 2][0],
            result.completions[-1][0],
        ],
    }


def front_row(
    variant: str, seed: int, step: int, settings: DemoSettings, model: Any, tokenizer: Any, seconds: float | None
) -> dict[str, Any]:
    """One ablation.jsonl row: the adapter at ``step`` of a ``settings.steps``-step run, swept on the held-out
    prompts (``seconds``: its training time, None for a checkpoint read back)."""
    return {
        "variant": variant,
        "seed": seed,
        "steps": step,
        "schedule_steps": settings.steps,
        "train_seconds": seconds,
        **evaluate(model, tokenizer, demo_prompts()[: settings.eval_prompts], settings),
    }


def run(variant: str, seed: int, base: DemoSettings, out: Path, resume: bool = False) -> dict[str, Any]:
    """Train (variant, seed) and sweep it. With ``resume``, a run that kept checkpoints before it was interrupted
    continues from its last one; its row then says so (``resumed_from``) and times only the resumed part."""
    run_dir = out / "runs" / f"{variant}-{seed}"
    settings = replace(base, seed=seed, output_dir=str(run_dir), **VARIANTS[variant])
    kept = checkpoint_steps(run_dir, settings.steps) if resume else []
    checkpoint = str(run_dir / "trainer" / f"checkpoint-{kept[-1]}") if kept else None
    torch.manual_seed(seed)
    model, tokenizer = load_model(settings.model)
    train_prompts = demo_prompts()[settings.eval_prompts :]
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = train(settings, model, tokenizer, train_prompts, resume_from_checkpoint=checkpoint)
    row = front_row(variant, seed, settings.steps, settings, model, tokenizer, time.perf_counter() - start)
    return {**row, "resumed_from": kept[-1]} if kept else row


def checkpoint_steps(run_dir: Path, schedule_steps: int) -> list[int]:
    """The steps at which ``run_dir``'s trainer kept a checkpoint of a run of ``schedule_steps`` steps, in order.

    Checkpoints left by a run of another length in the same folder (a shorter re-run, a crashed one) are skipped.
    """
    kept = []
    for checkpoint in (run_dir / "trainer").glob("checkpoint-*"):
        state = checkpoint / "trainer_state.json"
        if state.exists() and json.loads(state.read_text()).get("max_steps") == schedule_steps:
            kept.append(int(checkpoint.name.removeprefix("checkpoint-")))
    return sorted(kept)


def run_checkpoint(variant: str, seed: int, step: int, base: DemoSettings, out: Path) -> dict[str, Any]:
    """The front of the adapter kept at ``step`` of the (variant, seed) run of ``base.steps`` steps."""
    settings = replace(base, seed=seed, **VARIANTS[variant])
    model, tokenizer = load_model(settings.model)
    checkpoint = out / "runs" / f"{variant}-{seed}" / "trainer" / f"checkpoint-{step}"
    return front_row(variant, seed, step, settings, PeftModel.from_pretrained(model, checkpoint), tokenizer, None)


COLUMNS = (
    "variant",
    "seed",
    "steps",
    "of",
    "HV",
    "pos(1,0)",
    "neu(0,1)",
    "pos spread",
    "rho pos",
    "rho neu",
    "train s",
)


def print_table(rows: list[dict[str, Any]]) -> None:
    print(" | ".join(COLUMNS))
    for r in rows:
        front = np.asarray(r["front"])
        cells = [
            r["variant"],
            str(r["seed"]),
            str(r["steps"]),
            str(r.get("schedule_steps", r["steps"])),
            f"{r['hypervolume']:.4f}",
            f"{front[-1, 0]:.3f}",
            f"{front[0, 1]:.3f}",
            f"{r['positivity_spread']:.3f}",
            f"{r['monotonicity']['positivity']:.2f}",
            f"{r['monotonicity']['neutrality']:.2f}",
            "-" if r["train_seconds"] is None else f"{r['train_seconds']:.0f}",
        ]
        print(" | ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["default"], choices=sorted(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--output-dir", default="outputs/front_ablation")
    parser.add_argument("--model", default=None, help="local causal LM folder (default: the embedded SmolLM2)")
    parser.add_argument("--eval-prompts", type=int, default=DemoSettings.eval_prompts)
    parser.add_argument("--points", type=int, default=DemoSettings.points)
    parser.add_argument("--num-generations", type=int, default=DemoSettings.num_generations)
    parser.add_argument("--max-completion-length", type=int, default=DemoSettings.max_completion_length)
    parser.add_argument("--save-steps", type=int, default=0, help="keep a checkpoint every N steps (0: none)")
    parser.add_argument("--checkpoints", action="store_true", help="also sweep every kept checkpoint of the runs")
    parser.add_argument(
        "--resume", action="store_true", help="continue an interrupted run from the last checkpoint it kept"
    )
    args = parser.parse_args()
    base = DemoSettings(
        steps=args.steps,
        model=args.model,
        eval_prompts=args.eval_prompts,
        points=args.points,
        num_generations=args.num_generations,
        max_completion_length=args.max_completion_length,
        save_steps=args.save_steps,
    )
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "ablation.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    done = {(r["variant"], r["seed"], r["steps"], r.get("schedule_steps", r["steps"])) for r in rows}
    for variant in args.variants:
        for seed in args.seeds:
            todo = [args.steps]
            if args.checkpoints:
                todo += [
                    k for k in checkpoint_steps(out / "runs" / f"{variant}-{seed}", args.steps) if k != args.steps
                ]
            for step in todo:
                if (variant, seed, step, args.steps) in done:
                    if step == args.steps and args.save_steps:
                        print(f"{variant} seed {seed} was already trained: --save-steps keeps no new checkpoints")
                    continue
                done.add((variant, seed, step, args.steps))
                if step == args.steps:
                    row = run(variant, seed, base, out, resume=args.resume)
                else:
                    row = run_checkpoint(variant, seed, step, base, out)
                rows.append(row)
                with log.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                print_table([row])
    print_table(rows)


if __name__ == "__main__":
    main()
