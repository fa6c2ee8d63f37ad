"""Run under `accelerate launch --multi_gpu --num_processes 2` on CPU (gloo): trains PanaceaDPOTrainer or
PanaceaGRPOTrainer and records, per rank, the preference every adapted layer saw in each gradient forward."""

import json
import os
import sys
import warnings

import torch
from datasets import Dataset

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tests.models import dpo_pairs, tiny_llama, tiny_tokenizer, training_args  # noqa: E402

from peft_panacea import (  # noqa: E402
    PanaceaConfig,
    PanaceaDPOConfig,
    PanaceaDPOTrainer,
    PanaceaGRPOConfig,
    PanaceaGRPOTrainer,
    PanaceaLinear,
)

out_dir, granularity, kind = sys.argv[1], sys.argv[2], sys.argv[3]
common = training_args(
    out_dir,
    per_device_train_batch_size=2,
    max_steps=3,
    learning_rate=1e-2,
    preference_granularity=granularity,
    use_cpu=True,
)
peft_config = PanaceaConfig(pref_dim=2, task_type="CAUSAL_LM")


def short(prompts, completions, **kwargs):
    return [-float(len(c.split())) for c in completions]


def low_ids(prompts, completions, **kwargs):
    return [sum(w < "w5" for w in c.split()) / max(1, len(c.split())) for c in completions]


with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    if kind == "dpo":
        trainer = PanaceaDPOTrainer(
            model=tiny_llama(),
            args=PanaceaDPOConfig(**common),
            train_dataset=dpo_pairs(16, chosen=lambda i: f" w{10 + i}"),
            processing_class=tiny_tokenizer(),
            peft_config=peft_config,
        )
    else:
        # num_generations=4 over 2 ranks x 2 rows: every prompt group straddles both processes
        args = PanaceaGRPOConfig(**common, num_generations=4, max_completion_length=4)
        trainer = PanaceaGRPOTrainer(
            model=tiny_llama(),
            reward_funcs=[short, low_ids],
            args=args,
            train_dataset=Dataset.from_list([{"prompt": f"w{i} w{i + 1}"} for i in range(16)]),
            processing_class=tiny_tokenizer(),
            peft_config=peft_config,
        )
seen = []


def record(module, inputs):
    if torch.is_grad_enabled() and not module.disable_adapters:
        seen.append(module.panacea_pref["default"].value.tolist())


layers = [m for m in trainer.model.modules() if isinstance(m, PanaceaLinear)]
for layer in layers:
    layer.register_forward_pre_hook(record)
trainer.train()
rank = trainer.accelerator.process_index
with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as handle:
    json.dump(
        {
            "world": trainer.accelerator.num_processes,
            "seen": seen,
            "layers": len(layers),
            "loss": [e["loss"] for e in trainer.state.log_history if "loss" in e],
        },
        handle,
    )
trainer.accelerator.wait_for_everyone()
torch.distributed.destroy_process_group()
# Interpreter teardown on CPU/gloo sometimes aborts in a C++ thread destructor ("terminate called without an active
# exception") after all work is done; the results are written, so skip the teardown.
os._exit(0)
