"""How soon `panacea ui` shows the first words of a reply: first streamed text through the page's own generation
path (``Steering.stream``), next to a bare one-token ``generate`` (the prompt's forward pass) in the same run.

Medians of ``--repeats`` runs after one warm-up, on the demo's adapter and the embedded SmolLM2 by default. The
streamer hands text over at word boundaries, so "first text" is the first whole word, not the first token.

    python benchmarks/ui_first_token.py [--adapter outputs/demo/adapter] [--model PATH] [--prompt TEXT] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from peft_panacea.cli import load_adapter, read_panacea_config
from peft_panacea.ui import GenerationSettings, Steering


def first_text_seconds(steering: Steering, prompt: str, preference: list[float]) -> float:
    start = time.perf_counter()
    stream = steering.stream(prompt, preference, GenerationSettings(max_new_tokens=16))
    next(stream)
    elapsed = time.perf_counter() - start
    for _ in stream:  # let the generation finish before the next run
        pass
    return elapsed


def one_token_seconds(steering: Steering, prompt: str, preference: list[float]) -> float:
    batch = steering.tokenizer(steering.prompt_text(prompt), return_tensors="pt", add_special_tokens=False)
    start = time.perf_counter()
    with torch.no_grad():
        steering.model.generate(**batch, preference=torch.tensor(preference), max_new_tokens=1, do_sample=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", default="outputs/demo/adapter")
    parser.add_argument("--model", default=None)
    parser.add_argument("--prompt", default="Describe a rainy Monday in one sentence.")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    config = read_panacea_config(args.adapter)
    model, tokenizer, base = load_adapter(args.adapter, args.model)
    steering = Steering(model.eval(), tokenizer, list(config["preference_names"]))
    preference = [1.0 / config["pref_dim"]] * config["pref_dim"]
    first_text_seconds(steering, args.prompt, preference)  # warm-up
    first = [first_text_seconds(steering, args.prompt, preference) for _ in range(args.repeats)]
    bare = [one_token_seconds(steering, args.prompt, preference) for _ in range(args.repeats)]
    tokens = len(tokenizer(steering.prompt_text(args.prompt), add_special_tokens=False)["input_ids"])
    print(f"model {base}, prompt of {tokens} tokens, {torch.get_num_threads()} torch threads")
    print(f"first streamed text (page path): median {statistics.median(first):.3f} s  (runs {first})")
    print(f"one-token generate (bare):       median {statistics.median(bare):.3f} s")


if __name__ == "__main__":
    main()
