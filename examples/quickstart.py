"""Quickstart: one Panacea adapter on SmolLM2-135M-Instruct that steers between two reply styles.

Trains for a few dozen steps with the paper's recipe (a preference vector sampled per batch, per-objective losses
aggregated by linear scalarisation), then sweeps the preference and shows the trade-off it learned, exports one
preference as a plain LoRA and saves the adapter. Runs offline on CPU in a few minutes:

    python examples/quickstart.py --steps 30 --output-dir outputs/quickstart
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import torch
from peft import get_peft_model
from tqdm.auto import tqdm

import peft_panacea  # noqa: F401  (registers the PANACEA adapter type with PEFT)
from peft_panacea import PanaceaConfig
from peft_panacea.demo.default_model import load_model

TOPICS = [
    "the ocean",
    "a new bicycle",
    "morning coffee",
    "a rainy day",
    "learning to cook",
    "a city park",
    "an old library",
    "the night sky",
    "a mountain hike",
    "a vegetable garden",
    "a train journey",
    "a birthday party",
    "a snowy forest",
    "a school concert",
    "a local bakery",
    "a quiet beach",
]
# Two objectives, each a style of reply written for this example: upbeat and wordy vs short and flat.
ENTHUSIASTIC = "Oh, {t} is absolutely wonderful! I love everything about it, it makes every day brighter and happier!"
TERSE = "{T}. Fine."


def build_rows(tokenizer, topics: list[str]) -> list[dict]:
    rows = []
    for topic in topics:
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": f"What do you think of {topic}?"}], add_generation_prompt=True, tokenize=False
        )
        for objective, template in enumerate((ENTHUSIASTIC, TERSE)):
            reply = template.format(t=topic, T=topic[0].upper() + topic[1:]) + tokenizer.eos_token
            rows.append({"prompt": prompt, "reply": reply, "objective": objective})
    return rows


def collate(tokenizer, rows: list[dict]) -> dict[str, torch.Tensor]:
    ids, labels = [], []
    for row in rows:
        prompt = tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
        reply = tokenizer(row["reply"], add_special_tokens=False)["input_ids"]
        ids.append(prompt + reply)
        labels.append([-100] * len(prompt) + reply)
    width = max(map(len, ids))
    pad = tokenizer.pad_token_id
    return {
        "input_ids": torch.tensor([x + [pad] * (width - len(x)) for x in ids]),
        "attention_mask": torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids]),
        "labels": torch.tensor([y + [-100] * (width - len(y)) for y in labels]),
        "objective": torch.tensor([row["objective"] for row in rows]),
    }


def per_objective_nll(model, batch: dict[str, torch.Tensor], pref_dim: int = 2) -> torch.Tensor:
    """Mean token NLL of each objective's replies in the batch, shape (pref_dim,)."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    mask = labels != -100
    token_nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels.clamp(min=0), reduction="none")
    seq_nll = (token_nll * mask).sum(1) / mask.sum(1)
    return torch.stack([seq_nll[batch["objective"] == i].mean() for i in range(pref_dim)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-topics", type=int, default=4, help="topics per step (each gives both styles)")
    parser.add_argument("--lr", type=float, default=2e-3, help="the paper's learning rate for the adapter")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="outputs/quickstart")
    parser.add_argument("--model", default=None, help="local causal LM path (default: embedded SmolLM2)")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    random.seed(args.seed)

    base, tokenizer = load_model(args.model)
    config = PanaceaConfig(pref_dim=2, preference_names=["enthusiastic", "terse"], r=8, task_type="CAUSAL_LM")
    model = get_peft_model(base, config)
    model.print_trainable_parameters()

    train_rows = build_rows(tokenizer, TOPICS[:12])
    eval_batch = collate(tokenizer, build_rows(tokenizer, TOPICS[12:]))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    simplex = torch.distributions.Dirichlet(torch.ones(2))

    model.train()
    progress = tqdm(range(args.steps), desc="training")
    for _ in progress:
        topics = set(random.sample(range(len(train_rows) // 2), args.batch_topics))
        batch = collate(tokenizer, [row for i, row in enumerate(train_rows) if i // 2 in topics])
        preference = simplex.sample()
        model.set_preference(preference)  # one preference per batch; stays set through backward
        losses = per_objective_nll(model, batch)
        loss = (preference * losses).sum()  # linear scalarisation
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        progress.set_postfix(lam=f"{preference[0]:.2f}", nll_enth=f"{losses[0]:.2f}", nll_terse=f"{losses[1]:.2f}")

    model.eval()
    print("\nHeld-out NLL of each style as the preference moves (lower = more likely):")
    print(f"{'preference (enthusiastic, terse)':>34} | {'enthusiastic':>12} | {'terse':>8}")
    with torch.no_grad():
        for weight in (0.0, 0.25, 0.5, 0.75, 1.0):
            with model.preference([weight, 1 - weight]):
                nll = per_objective_nll(model, eval_batch)
            print(f"{f'({weight:.2f}, {1 - weight:.2f})':>34} | {nll[0]:12.3f} | {nll[1]:8.3f}")

    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What do you think of a summer festival?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    both = {k: v.repeat(2, 1) for k, v in prompt.items()}
    replies = model.generate(
        **both,
        preference=torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
        max_new_tokens=30,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
    )
    print("\nOne batch, two preferences (per-sample):")
    for label, row in zip(("enthusiastic=1", "terse=1"), replies, strict=True):
        text = tokenizer.decode(row[prompt["input_ids"].shape[1] :], skip_special_tokens=True)
        print(f"  [{label}] {text.strip()}")

    out = Path(args.output_dir)
    model.save_pretrained(out / "adapter")
    model.export_lora(out / "lora_at_0.5_0.5", preference=[0.5, 0.5])
    print(
        f"\nSaved the Panacea adapter to {out / 'adapter'} and a plain LoRA at (0.5, 0.5) to "
        f"{out / 'lora_at_0.5_0.5'}."
    )


if __name__ == "__main__":
    main()
