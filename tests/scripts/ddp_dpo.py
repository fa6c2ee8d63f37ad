"""Run under `accelerate launch --cpu --num_processes 2`: trains PanaceaDPOTrainer and records, per rank, the
preference every adapted layer saw in each gradient forward."""

import json
import os
import sys
import warnings

import torch
from datasets import Dataset

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tests.models import tiny_llama, tiny_tokenizer  # noqa: E402

from peft_panacea import PanaceaConfig, PanaceaDPOConfig, PanaceaDPOTrainer, PanaceaLinear  # noqa: E402

out_dir, granularity = sys.argv[1], sys.argv[2]
rows = [
    {"prompt": f"w{i} w{i + 1}", "chosen": f" w{10 + i}", "rejected": f" w{40 + i}", "preference_labels": [1, -1]}
    for i in range(16)
]
args = PanaceaDPOConfig(
    output_dir=out_dir,
    per_device_train_batch_size=2,
    max_steps=3,
    learning_rate=1e-2,
    bf16=False,
    report_to=[],
    save_strategy="no",
    logging_steps=1,
    preference_granularity=granularity,
    use_cpu=True,
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    trainer = PanaceaDPOTrainer(
        model=tiny_llama(),
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tiny_tokenizer(),
        peft_config=PanaceaConfig(pref_dim=2, task_type="CAUSAL_LM"),
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
