"""Helpful vs harmless with PanaceaDPOTrainer on data in the PKU-SafeRLHF schema (the paper's HH setup).

    python examples/train_dpo.py --data path/to/pku_saferlhf.jsonl --model path/to/causal-lm --max-steps 100

`--data` is a JSON-lines or Parquet file with PKU-SafeRLHF columns (prompt, response_0, response_1,
better_response_id, safer_response_id); the default is a 3-row sample shipped with the example, enough to see it
run. `--model` is any local causal LM; the default is the embedded SmolLM2-135M-Instruct (offline).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from datasets import Dataset

from peft_panacea import PanaceaConfig, PanaceaDPOConfig, PanaceaDPOTrainer
from peft_panacea.converters import from_pku_saferlhf
from peft_panacea.demo.default_model import load_model

HERE = Path(__file__).parent


def load_table(path: str) -> Dataset:
    return Dataset.from_parquet(path) if path.endswith(".parquet") else Dataset.from_json(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(HERE / "data" / "pku_saferlhf_sample.jsonl"))
    parser.add_argument("--model", default=None, help="local causal LM path (default: embedded SmolLM2)")
    parser.add_argument("--output-dir", default="outputs/dpo_hh")
    parser.add_argument("--max-steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--aggregation", default="linear", choices=["linear", "tchebycheff", "smooth_tchebycheff"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    pairs, objectives = from_pku_saferlhf(load_table(args.data))
    model, tokenizer = load_model(args.model)
    trainer = PanaceaDPOTrainer(
        model=model,
        args=PanaceaDPOConfig(
            output_dir=args.output_dir,
            max_steps=args.max_steps,
            per_device_train_batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            aggregation=args.aggregation,
            preference_sampling="vertex",  # the paper samples the corners more often
            max_length=256,
            bf16=False,
            logging_steps=1,
            save_strategy="no",
            report_to=[],
            seed=args.seed,
        ),
        train_dataset=pairs,
        processing_class=tokenizer,
        peft_config=PanaceaConfig(pref_dim=2, preference_names=objectives, task_type="CAUSAL_LM"),
    )
    trainer.train()
    trainer.save_model(args.output_dir)
    last = [entry for entry in trainer.state.log_history if "loss" in entry][-1]
    print({key: round(value, 4) for key, value in last.items() if "/" in key or key == "loss"})
    print(f"Saved the Panacea adapter for {objectives} to {args.output_dir}.")


if __name__ == "__main__":
    main()
