"""Online RL with PanaceaGRPOTrainer on SmolLM2-135M-Instruct: positivity (VADER) vs conciseness (length).

One adapter is trained for both objectives (a preference drawn per generation batch, per-objective rewards
normalised and combined with it), then swept over five preferences to show the rewards follow the weights.
Runs offline on CPU (about 15 minutes with the defaults on 2 cores):

    python examples/train_grpo.py --max-steps 60 --output-dir outputs/grpo
"""

from __future__ import annotations

import argparse

import torch
from datasets import Dataset
from tqdm.auto import tqdm

from peft_panacea import PanaceaConfig, PanaceaGRPOConfig, PanaceaGRPOTrainer
from peft_panacea.demo.default_model import load_model
from peft_panacea.demo.prompts import demo_prompts
from peft_panacea.demo.rewards import conciseness, positivity

OBJECTIVES = ["positivity", "conciseness"]


def chat_dataset(prompts: list[str]) -> Dataset:
    return Dataset.from_list([{"prompt": [{"role": "user", "content": p}]} for p in prompts])


@torch.no_grad()
def sweep(model, tokenizer, prompts: list[str], max_new_tokens: int) -> None:
    """Mean reward of each objective at a few preferences, on prompts the adapter was not trained on."""
    model.eval()
    tokenizer.padding_side = "left"
    texts = [
        tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False)
        for p in prompts
    ]
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    print(f"\n{'preference (positivity, conciseness)':>38} | positivity | conciseness")
    for weight in tqdm((0.0, 0.25, 0.5, 0.75, 1.0), desc="sweep", leave=False):
        out = model.generate(
            **batch,
            preference=[weight, 1 - weight],
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
        replies = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
        pos, con = sum(positivity(replies)) / len(replies), sum(conciseness(replies)) / len(replies)
        print(f"{f'({weight:.2f}, {1 - weight:.2f})':>38} | {pos:10.3f} | {con:11.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="local causal LM path (default: embedded SmolLM2)")
    parser.add_argument("--output-dir", default="outputs/grpo")
    parser.add_argument("--max-steps", type=int, default=60)
    parser.add_argument("--num-generations", type=int, default=4)
    parser.add_argument("--prompts-per-step", type=int, default=2)
    parser.add_argument("--max-completion-length", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--eval-prompts", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    prompts = demo_prompts()
    train, held_out = prompts[args.eval_prompts :], prompts[: args.eval_prompts]
    model, tokenizer = load_model(args.model)
    trainer = PanaceaGRPOTrainer(
        model=model,
        reward_funcs=[positivity, conciseness],
        args=PanaceaGRPOConfig(
            output_dir=args.output_dir,
            max_steps=args.max_steps,
            per_device_train_batch_size=args.prompts_per_step * args.num_generations,
            num_generations=args.num_generations,
            max_completion_length=args.max_completion_length,
            learning_rate=args.learning_rate,
            preference_sampling="vertex",
            preference_granularity="batch",
            reward_normalization="running",
            gradient_checkpointing=False,
            bf16=False,
            logging_steps=5,
            save_strategy="no",
            report_to=[],
            seed=args.seed,
        ),
        train_dataset=chat_dataset(train),
        processing_class=tokenizer,
        peft_config=PanaceaConfig(pref_dim=2, preference_names=OBJECTIVES, task_type="CAUSAL_LM"),
    )
    trainer.train()
    trainer.save_model(args.output_dir)
    sweep(trainer.model, tokenizer, held_out, args.max_completion_length)
    print(f"\nSaved the Panacea adapter for {OBJECTIVES} to {args.output_dir}.")


if __name__ == "__main__":
    main()
