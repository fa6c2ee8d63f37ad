"""Training cost of the Panacea trainers against their TRL counterparts with a LoRA of the same rank (k+m).

Each configuration runs in its own process (so peak RSS is its own) on SmolLM2-135M-Instruct and the same data:
PanaceaDPOTrainer vs TRL DPOTrainer, and PanaceaGRPOTrainer vs TRL GRPOTrainer with fixed reward_weights. Reports
the median optimizer-step time (first step excluded) and the peak resident memory, and their ratios.

    python benchmarks/training_cost.py [--steps 6]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings

R, M = 8, 2
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def dpo_data():
    from datasets import Dataset

    from peft_panacea.demo.prompts import demo_prompts

    rows = [
        {"prompt": p, "chosen": " It is lovely, I really like it.", "rejected": " No.", "preference_labels": [1, -1]}
        for p in demo_prompts()[:32]
    ]
    return Dataset.from_list(rows)


def run_worker(kind: str, steps: int) -> dict:
    import torch
    from peft import LoraConfig
    from transformers import TrainerCallback

    import peft_panacea as pp
    from peft_panacea.demo.default_model import load_default_model
    from peft_panacea.demo.rewards import conciseness, positivity

    torch.manual_seed(0)
    model, tokenizer = load_default_model()
    durations: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            durations.append(time.perf_counter() - self.start)

    common = {
        "output_dir": "/tmp/panacea-bench",
        "max_steps": steps,
        "bf16": False,
        "report_to": [],
        "save_strategy": "no",
        "logging_steps": steps,
        "gradient_checkpointing": True,
        "use_cpu": True,
    }
    lora = LoraConfig(r=R + M, lora_alpha=R + M, target_modules=TARGETS, task_type="CAUSAL_LM")
    panacea = pp.PanaceaConfig(
        r=R, pref_dim=M, target_modules=TARGETS, task_type="CAUSAL_LM", preference_names=["positivity", "conciseness"]
    )
    if kind in ("panacea_dpo", "trl_dpo"):
        from trl import DPOConfig, DPOTrainer

        data = dpo_data()
        if kind == "panacea_dpo":
            trainer = pp.PanaceaDPOTrainer(
                model=model,
                args=pp.PanaceaDPOConfig(per_device_train_batch_size=4, max_length=96, **common),
                train_dataset=data,
                processing_class=tokenizer,
                peft_config=panacea,
            )
        else:
            trainer = DPOTrainer(
                model=model,
                args=DPOConfig(per_device_train_batch_size=4, max_length=96, **common),
                train_dataset=data.remove_columns("preference_labels"),
                processing_class=tokenizer,
                peft_config=lora,
            )
    else:
        from datasets import Dataset
        from trl import GRPOConfig, GRPOTrainer

        from peft_panacea.demo.prompts import demo_prompts

        data = Dataset.from_list([{"prompt": [{"role": "user", "content": p}]} for p in demo_prompts()[:32]])
        grpo = {"per_device_train_batch_size": 8, "num_generations": 4, "max_completion_length": 24, **common}
        if kind == "panacea_grpo":
            trainer = pp.PanaceaGRPOTrainer(
                model=model,
                reward_funcs=[positivity, conciseness],
                args=pp.PanaceaGRPOConfig(**grpo),
                train_dataset=data,
                processing_class=tokenizer,
                peft_config=panacea,
            )
        else:
            trainer = GRPOTrainer(
                model=model,
                reward_funcs=[positivity, conciseness],
                args=GRPOConfig(reward_weights=[0.5, 0.5], **grpo),
                train_dataset=data,
                processing_class=tokenizer,
                peft_config=lora,
            )
    trainer.add_callback(Timer())
    trainer.train()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "kind": kind,
        "step_s": statistics.median(durations[1:]),
        "peak_rss_mb": peak_mb,
        "trainable": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        warnings.simplefilter("ignore")
        print("RESULT " + json.dumps(run_worker(args.worker, args.steps)))
        return
    results = {}
    for kind in ("panacea_dpo", "trl_dpo", "panacea_grpo", "trl_grpo"):
        out = subprocess.run(
            [sys.executable, __file__, "--worker", kind, "--steps", str(args.steps)],
            capture_output=True,
            text=True,
            check=True,
        )
        line = next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))
        results[kind] = json.loads(line.removeprefix("RESULT "))
    print(
        f"SmolLM2-135M-Instruct, CPU, fp32, gradient checkpointing, {args.steps} steps (median step, first excluded)"
    )
    print(f"{'trainer':<16} {'step s':>8} {'peak RSS MB':>12} {'trainable':>11}")
    for kind, r in results.items():
        print(f"{kind:<16} {r['step_s']:8.2f} {r['peak_rss_mb']:12.0f} {r['trainable']:11,}")
    for name in ("dpo", "grpo"):
        ours, theirs = results[f"panacea_{name}"], results[f"trl_{name}"]
        print(
            f"{name.upper()}: Panacea / TRL+LoRA r={R + M}: step time {ours['step_s'] / theirs['step_s']:.3f}, "
            f"peak memory {ours['peak_rss_mb'] / theirs['peak_rss_mb']:.3f}"
        )


if __name__ == "__main__":
    main()
