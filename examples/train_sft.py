"""Multi-style SFT with PanaceaSFTTrainer (the paper's Chat setup): each completion shows one objective's style.

    python examples/train_sft.py --model path/to/causal-lm --max-steps 30

`--data` is a JSON-lines file with `prompt`, `completion` and `objective` (a style name); by default the example
writes its own three styles (enthusiastic, terse, formal) for a set of topics. `--model` defaults to the embedded
SmolLM2-135M-Instruct (offline).
"""

from __future__ import annotations

import argparse

from datasets import Dataset
from train_dpo import load_table

from peft_panacea import PanaceaConfig, PanaceaSFTConfig, PanaceaSFTTrainer
from peft_panacea.demo.default_model import load_model

TOPICS = [
    "the ocean",
    "a bicycle",
    "coffee",
    "rain",
    "cooking",
    "a park",
    "a library",
    "the stars",
    "hiking",
    "a garden",
]
STYLES = {
    "enthusiastic": "Oh, {t} is absolutely wonderful! I love it so much, it brightens every single day!",
    "terse": "{T}. Fine.",
    "formal": "{T} is, upon careful consideration, a subject of considerable merit and interest.",
}


def style_rows() -> Dataset:
    rows = [
        {
            "prompt": f"What do you think of {topic}?",
            "completion": " " + template.format(t=topic, T=topic[0].upper() + topic[1:]),
            "objective": style,
        }
        for topic in TOPICS
        for style, template in STYLES.items()
    ]
    return Dataset.from_list(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="JSON-lines with prompt, completion, objective")
    parser.add_argument("--model", default=None, help="local causal LM path (default: embedded SmolLM2)")
    parser.add_argument("--output-dir", default="outputs/sft_styles")
    parser.add_argument("--max-steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=6)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--granularity", default="batch", choices=["batch", "sample"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = load_table(args.data) if args.data else style_rows()
    names = sorted(set(data["objective"])) if args.data else list(STYLES)
    model, tokenizer = load_model(args.model)
    trainer = PanaceaSFTTrainer(
        model=model,
        args=PanaceaSFTConfig(
            output_dir=args.output_dir,
            max_steps=args.max_steps,
            per_device_train_batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            preference_granularity=args.granularity,
            max_length=128,
            bf16=False,
            logging_steps=1,
            save_strategy="no",
            report_to=[],
            seed=args.seed,
        ),
        train_dataset=data,
        processing_class=tokenizer,
        peft_config=PanaceaConfig(pref_dim=len(names), preference_names=names, task_type="CAUSAL_LM"),
    )
    trainer.train()
    trainer.save_model(args.output_dir)
    last = [entry for entry in trainer.state.log_history if "loss" in entry][-1]
    print({key: round(value, 4) for key, value in last.items() if "/" in key or key == "loss"})
    print(f"Saved the Panacea adapter for {names} to {args.output_dir}.")


if __name__ == "__main__":
    main()
